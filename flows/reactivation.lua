-- Reactivation (seed 001, 激活式): leads we could not engage go quiet. When a
-- lead in the nurture pool has done nothing at all for 90 days (no open, no
-- click, no visit, no form — no event of any kind), we try to win them back
-- with three "we miss you" touches a week apart, ending with a gift offer.
-- The subject line of the emails is A/B tested.
--
-- Any sign of life ends it: the lead is tagged behaviour:reactivated and
-- leaves the pool (the other nurture flows take over again). No reaction
-- to all three touches: the lead is tagged pool:dormant, and we stop writing.
--
-- Starts when a lead gets the tag pool:nurture (the white-paper follow-up
-- and the welcome series put leads there), or by hand:
--   nurture flow enroll reactivation <lead>
return {
  name    = "reactivation",
  trigger = { tag = "pool:nurture" },
  reentry = "always",          -- back in the pool later: watched again
  goal    = { stage = "SQL" }, -- sales took over: nothing to reactivate
  description = "3-touch win-back after 90 days of silence, A/B test on the subject",
  run = function(lead)
    local DAY = 86400000
    local SILENCE = 90 * DAY

    -- The subject lines under test (arm → subject). The email templates
    -- (flows/templates/we_miss_you_*.tmpl) put the lead's name in front.
    local SUBJECTS = {
      A = "好久不见:2026 B2B 营销自动化趋势报告为您备好了",
      B = "这份老朋友专属礼包还在等您",
    }
    -- The win-back touches. After each, we wait `wait` for the reaction
    -- that touch invites (`reply`); any other event counts as well.
    local TOUCHES = {
      { channel = "email",  template = "we_miss_you_1",    reply = "email.opened",   wait = "7d" },
      { channel = "wechat", template = "we_miss_you_2",    reply = "wechat.clicked", wait = "7d" },
      { channel = "email",  template = "we_miss_you_gift", reply = "email.clicked",  wait = "7d" },
    }

    -- When we last heard from the lead (its creation if never).
    local function last_heard()
      return lead:get("last_event_at") or lead:get("created_at")
    end

    -- 1. Watch: sleep until 90 days after the last event, then look again —
    -- a lead that did something meanwhile pushes the date out.
    while true do
      local wake = last_heard() + SILENCE
      if now() >= wake then break end
      wait_until(wake)
    end

    -- 2. 90 days of silence. Pick the subject line once for this lead; the
    -- choice is kept on the lead and in every message, for the A/B report.
    local arm = split{ A = 50, B = 50 }
    lead:set("ab_reactivation_subject", arm)
    local silent_since = now()

    for _, touch in ipairs(TOUCHES) do
      local message = { template = touch.template, campaign = "reactivation", variant = arm }
      if touch.channel == "email" then message.subject = SUBJECTS[arm] end
      send(touch.channel, message)

      local reply = wait_event(touch.reply, { within = touch.wait })
      if reply or last_heard() >= silent_since then
        -- 3a. They are back.
        lead:tag("behaviour:reactivated")
        lead:untag("pool:nurture")
        return
      end
    end

    -- 3b. No reaction to three touches: stop writing to them.
    lead:untag("pool:nurture")
    lead:tag("pool:dormant")
  end,
}
