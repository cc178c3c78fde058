-- Scoring rule: content downloads (points and MQL threshold in
-- lib/scoring.lua). The download also marks the piece read
-- (behaviour:read:<content id>), so education flows skip it.
local scoring = require("lib.scoring")

return {
  name    = "scoring_content_downloaded",
  kind    = "rule",
  trigger = { event = "content.downloaded" },
  description = "Heat for content downloads; marks the content read",
  run = function(lead, event)
    scoring.apply(lead, event)
    if event.content then
      local ok, err = lead:tag("behaviour:read:" .. event.content)
      if not ok then log("scoring_content_downloaded: content id not usable as a tag:", err) end
    end
  end,
}
