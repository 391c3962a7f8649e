-- Pandoc filter for both renderers (Quarto lists it in the build folder's _metadata.yml; the
-- fallback passes it to pandoc): how tables sit on the page.
--   * HTML: every table in a box that scrolls sideways on a narrow screen (role "region",
--     reachable by keyboard, named by its caption), so the page itself never does.
--   * Typst (PDF): a table's caption is a bold line above it, and a table of up to
--     SHORT_TABLE_ROWS rows is kept on one page with it; a longer one may break across pages.
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
  if FORMAT:match("typst") then
    -- the caption as a bold line above the table: Quarto's Typst output drops the caption of a
    -- table without a cross-reference label, pandoc's keeps it; this way both show it
    local blocks = {}
    local caption = tbl.caption.long or {}
    if #caption > 0 then
      table.insert(blocks, pandoc.Para({ pandoc.Strong(pandoc.utils.blocks_to_inlines(caption)) }))
      tbl.caption = pandoc.Caption()
    end
    table.insert(blocks, tbl)
    if body_rows(tbl) <= SHORT_TABLE_ROWS then
      table.insert(blocks, 1, pandoc.RawBlock("typst", "#block(breakable: false)["))
      table.insert(blocks, pandoc.RawBlock("typst", "]"))
    end
    return blocks
  end
  return nil
end

function Pandoc(doc)
  if FORMAT:match("html") then
    doc.blocks:insert(1, pandoc.Div({}, pandoc.Attr("main-content")))
  end
  return doc
end
