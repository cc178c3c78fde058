-- Scoring rule: webinar attendance (30 minutes or more counts double) (points and MQL threshold in lib/scoring.lua).
local scoring = require("lib.scoring")

return {
  name    = "scoring_webinar_attended",
  kind    = "rule",
  trigger = { event = "webinar.attended" },
  description = "Heat for webinar attendance (30 minutes or more counts double)",
  run = function(lead, event)
    scoring.apply(lead, event)
  end,
}
