-- Pandoc filter for both renderers (Quarto lists it in the build folder's _metadata.yml; the
-- fallback passes it to pandoc): how tables sit on the page.
--   * HTML: every table in a box that scrolls sideways on a narrow screen (role "region",
--     reachable by keyboard, named by its caption), so the page itself never does.
--   * Typst (PDF): a table of up to SHORT_TABLE_ROWS rows is kept on one page; a longer one
--     may break across pages.
-- and, in HTML, the target of the "Skip to main content" link (skip_link.html): the start of the
-- report's own text, after the banner, title and contents.
local SHORT_TABLE_ROWS = 25

local function body_rows(tbl)
  local count = 0
  for _, body in ipairs(tbl.bodies) do
    count = count + #body.body
  end
  return count
end

function Table(tbl)
  if FORMAT:match("html") then
    local name = pandoc.utils.stringify(tbl.caption.long or {})
    if name == "" then
      name = "Table"
    end
    return pandoc.Div({ tbl }, pandoc.Attr("", { "table-scroll" },
      { role = "region", tabindex = "0", ["aria-label"] = name }))
  end
  if FORMAT:match("typst") and body_rows(tbl) <= SHORT_TABLE_ROWS then
    return {
      pandoc.RawBlock("typst", "#block(breakable: false)["),
      tbl,
      pandoc.RawBlock("typst", "]"),
    }
  end
  return nil
end

function Pandoc(doc)
  if FORMAT:match("html") then
    doc.blocks:insert(1, pandoc.Div({}, pandoc.Attr("main-content")))
  end
  return doc
end
