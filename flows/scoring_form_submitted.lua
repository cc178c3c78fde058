-- Scoring rule: forms (a demo request counts most) (points and MQL threshold in lib/scoring.lua).
local scoring = require("lib.scoring")

return {
  name    = "scoring_form_submitted",
  kind    = "rule",
  trigger = { event = "form.submitted" },
  description = "Heat for forms (a demo request counts most)",
  run = function(lead, event)
    scoring.apply(lead, event)
  end,
}
