-- Scoring rule: email clicks (points and MQL threshold in lib/scoring.lua).
local scoring = require("lib.scoring")

return {
  name    = "scoring_email_clicked",
  kind    = "rule",
  trigger = { event = "email.clicked" },
  description = "Heat for email clicks",
  run = function(lead, event)
    scoring.apply(lead, event)
  end,
}
