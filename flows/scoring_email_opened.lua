-- Scoring rule: email opens (points and MQL threshold in lib/scoring.lua).
local scoring = require("lib.scoring")

return {
  name    = "scoring_email_opened",
  kind    = "rule",
  trigger = { event = "email.opened" },
  description = "Heat for email opens",
  run = function(lead, event)
    scoring.apply(lead, event)
  end,
}
