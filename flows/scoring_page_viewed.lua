-- Scoring rule: website visits (the pricing page counts most) (points and MQL threshold in lib/scoring.lua).
local scoring = require("lib.scoring")

return {
  name    = "scoring_page_viewed",
  kind    = "rule",
  trigger = { event = "page.viewed" },
  description = "Heat for website visits (the pricing page counts most)",
  run = function(lead, event)
    scoring.apply(lead, event)
  end,
}
