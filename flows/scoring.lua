-- Scoring: a new lead's first scores (see lib/scoring.lua for the model).
-- On lead.created the lead has done nothing yet, so this sets its fit score
-- from what we know about it (industry, title, company size). The other
-- scoring_*.lua rules add heat for what the lead does.
local scoring = require("lib.scoring")

return {
  name    = "scoring",
  kind    = "rule",
  trigger = { event = "lead.created" },
  description = "Fit score of a new lead",
  run = function(lead, event)
    scoring.apply(lead, event)
  end,
}
