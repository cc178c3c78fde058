-- Product education drip for marketing automation (seed 001, 教育型孵化):
-- a lead who shows interest in marketing automation gets six pieces of
-- content, one every 5 days, in the order a buyer's worries come:
--   viewpoint   (观点认同) — the problem they face, not our product yet;
--   product     (产品聚焦) — how our product solves it, with customers;
--   competitive (竞争针对) — how we differ, and customers who switched.
--
-- Content the lead has already read is skipped, and the next piece takes
-- its place. "Read" is the tag behaviour:read:<content id>: this flow sets
-- it when the lead opens one of its emails (the email plugin reports
-- email.opened with the template name), and anything else may set it too
-- (a rule on content.downloaded, another campaign).
--
-- One flow per interest: this one starts on interest:marketing_automation.
return {
  name    = "product_education",
  trigger = { tag = "interest:marketing_automation" },
  reentry = "never",           -- the series is told once
  goal    = { stage = "SQL" }, -- sales took over
  description = "Marketing automation education: viewpoint → product → competitive, every 5 days",
  run = function(lead)
    local EVERY, EVERY_MS = "5d", 5 * 86400000     -- between pieces (the same, in ms)

    local LIBRARY = {
      { id = "ma_viewpoint_buyer_journey",       stage = "viewpoint" },   -- 57% of the journey is done before sales
      { id = "ma_viewpoint_lead_leakage",        stage = "viewpoint" },   -- 90% of leads are lost without nurturing
      { id = "ma_product_journey_builder",       stage = "product" },     -- building a nurture flow, with a case
      { id = "ma_product_lead_scoring",          stage = "product" },     -- fit and heat scores, routing to sales
      { id = "ma_competitive_overview",          stage = "competitive" }, -- where we differ, and why it matters
      { id = "ma_competitive_switching_stories", stage = "competitive" }, -- customers who switched to us
    }

    local function read_tag(piece) return "behaviour:read:" .. piece.id end
    local function already_read(piece) return lead:has_tag(read_tag(piece)) end

    local next_slot = now()             -- the first piece goes out at once
    for _, piece in ipairs(LIBRARY) do
      -- wait for this piece's turn, unless we already know it is read
      if now() < next_slot and not already_read(piece) then
        wait_until(next_slot)
      end

      if already_read(piece) then
        -- read elsewhere: skip it, the next piece takes this slot
        log("product_education: skipping", piece.id, "(already read)")
      else
        send("email", { template = piece.id, stage = piece.stage, series = "ma_education" })
        next_slot = now() + EVERY_MS
        -- an open during its 5 days marks the piece read
        if wait_event("email.opened", { within = EVERY, where = { template = piece.id } }) then
          lead:tag(read_tag(piece))
        end
      end
    end
  end,
}
