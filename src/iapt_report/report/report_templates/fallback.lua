-- Pandoc filter for the fallback renderer: the two Quarto features of the report-source subset
-- (docs/report-sources.md) that plain pandoc does not understand.
--   * an image's `fig-alt="..."` attribute: Quarto's alt text. It becomes the alt text of the
--     HTML <img> and of Typst's image() (tagged PDF), so the caption stays a caption.
--   * `::: {.callout-note}`: a titled note box (styled by report.css in HTML, a block in Typst).

local function typst_string(text)
  local escaped = text:gsub("\\", "\\\\"):gsub('"', '\\"')
  return '"' .. escaped .. '"'
end

function Image(image)
  local alt = image.attributes["fig-alt"]
  if alt == nil then
    return nil
  end
  image.attributes["fig-alt"] = nil
  if FORMAT == "typst" then
    return pandoc.RawInline("typst",
      "#box(image(" .. typst_string(image.src) .. ", alt: " .. typst_string(alt) .. "))")
  end
  image.attributes["alt"] = alt
  return image
end

function Div(div)
  if not div.classes:includes("callout-note") then
    return nil
  end
  local title = pandoc.Para({ pandoc.Strong({ pandoc.Str(div.attributes["title"] or "Note") }) })
  div.attributes["title"] = nil
  if FORMAT == "typst" then
    local blocks = pandoc.Blocks({ pandoc.RawBlock("typst",
      '#block(width: 100%, inset: 8pt, fill: rgb("#eef7ff"), stroke: (left: 3pt + rgb("#005eb8")))[') })
    blocks:insert(title)
    blocks:extend(div.content)
    blocks:insert(pandoc.RawBlock("typst", "]"))
    return blocks
  end
  div.attributes["role"] = "note"
  div.content:insert(1, title)
  return div
end
