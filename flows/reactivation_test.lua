-- Simulated-time tests of reactivation.lua (nurture flow test).
local SUBJECT = {
  A = "好久不见:2026 B2B 营销自动化趋势报告为您备好了",
  B = "这份老朋友专属礼包还在等您",
}

return {
  flows = { "reactivation.lua", "whitepaper_followup.lua" },
  start = "2026-03-02T09:00:00+08:00",
  tests = {
    ["an active lead is never reactivated"] = function(t)
      local lead = t:lead{ email = "busy@yunqi.cn" }
      t:tag(lead, "pool:nurture")
      for _ = 1, 12 do                              -- a year, one visit a month
        t:advance("30d")
        t:event(lead, "page.viewed", { page = "blog" })
      end
      t:advance("89d")                              -- 89 days after the last visit
      t:expect_sends(lead, 0)
      t:expect_run(lead, "reactivation", "waiting")
      t:advance("1d")                               -- … and on the 90th day it starts
      t:expect_sent(lead, { channel = "email", template = "we_miss_you_1", at = "450d" })
    end,

    ["a silent lead gets three touches a week apart, then is marked dormant"] = function(t)
      local lead = t:lead{ email = "quiet@hengtai.com" }
      t:enroll("reactivation", lead)                -- by hand; never any event: counts from creation
      t:advance("89d")
      t:expect_sends(lead, 0)
      t:advance("30d")
      t:expect_sent(lead, { channel = "email", template = "we_miss_you_1", at = "90d", campaign = "reactivation" })
      t:expect_sent(lead, { channel = "wechat", template = "we_miss_you_2", at = "97d" })
      t:expect_sent(lead, { channel = "email", template = "we_miss_you_gift", at = "104d" })
      t:expect_sends(lead, 3)
      t:expect_tag(lead, "pool:dormant")
      t:expect_no_tag(lead, "behaviour:reactivated")
      t:expect_run(lead, "reactivation", "completed")
    end,

    ["silence counts from the last event"] = function(t)
      local lead = t:lead{ email = "once@hengtai.com" }
      t:tag(lead, "pool:nurture")
      t:advance("10d")
      t:event(lead, "email.clicked", { template = "newsletter" })
      t:advance("95d")
      t:expect_sent(lead, { template = "we_miss_you_1", at = "100d" })
      t:expect_sends(lead, 1)
    end,

    ["opening the first email ends it: reactivated, out of the pool"] = function(t)
      local lead = t:lead{ email = "back@hengtai.com" }
      t:tag(lead, "pool:nurture")
      t:advance("92d")
      t:event(lead, "email.opened", { template = "we_miss_you_1" })
      t:advance("30d")
      t:expect_sends(lead, 1)
      t:expect_tag(lead, "behaviour:reactivated")
      t:expect_no_tag(lead, "pool:nurture")
      t:expect_no_tag(lead, "pool:dormant")
      t:expect_run(lead, "reactivation", "completed")
    end,

    ["any other sign of life also ends it, at the end of that touch's week"] = function(t)
      local lead = t:lead{ email = "visit@hengtai.com" }
      t:tag(lead, "pool:nurture")
      t:advance("99d")                              -- after the WeChat touch at 97d …
      t:event(lead, "page.viewed", { page = "pricing" })   -- … a visit, not a click
      t:advance("30d")
      t:expect_sends(lead, 2)
      t:expect_no_send(lead, { template = "we_miss_you_gift" })
      t:expect_tag(lead, "behaviour:reactivated")
    end,

    ["the subject A/B split is recorded, kept for every touch, and both arms are used"] = function(t)
      local leads, count = {}, { A = 0, B = 0 }
      for i = 1, 40 do
        leads[i] = t:lead{ email = "ab" .. i .. "@example.cn" }
        t:enroll("reactivation", leads[i])
      end
      t:advance("120d")
      for _, lead in ipairs(leads) do
        local arm = t:field(lead, "ab_reactivation_subject")
        if arm ~= "A" and arm ~= "B" then error("no arm recorded for lead " .. lead) end
        count[arm] = count[arm] + 1
        -- the three touches go out in three different steps (a week apart):
        -- each replays the journal and must see the same arm
        local sent = t:sent(lead)
        if #sent ~= 3 then error("expected 3 touches, got " .. #sent) end
        for _, s in ipairs(sent) do
          if s.variant ~= arm then error("lead " .. lead .. ": arm " .. arm .. " but a touch says " .. tostring(s.variant)) end
        end
        t:expect_sent(lead, { template = "we_miss_you_1", subject = SUBJECT[arm], variant = arm })
        t:expect_sent(lead, { template = "we_miss_you_gift", subject = SUBJECT[arm], variant = arm })
      end
      if count.A < 8 or count.B < 8 then
        error("a 50/50 split gave A " .. count.A .. ", B " .. count.B .. " of 40")
      end
    end,

    ["the white-paper flow's pool:nurture starts the watch"] = function(t)
      local lead = t:lead{ email = "wp@yunqi.cn" }
      t:event(lead, "form.submitted", { form = "whitepaper", topic = "crm" })
      t:advance("20d")                              -- no open, no survey: back to the pool
      t:expect_tag(lead, "pool:nurture")
      t:expect_run(lead, "reactivation", "waiting")
      t:expect_sends(lead, 3)                       -- the white-paper flow's three
      t:advance("80d")
      -- 90 days after the form, the lead's last event
      t:expect_sent(lead, { channel = "email", template = "we_miss_you_1", at = "90d" })
    end,

    ["becoming SQL ends the watch"] = function(t)
      local lead = t:lead{ email = "sql@yunqi.cn" }
      t:tag(lead, "pool:nurture")
      t:advance("40d")
      t:stage(lead, "SQL")
      t:advance("100d")
      t:expect_sends(lead, 0)
      t:expect_run(lead, "reactivation", "goal")
    end,

    ["back in the pool later: watched again"] = function(t)
      local lead = t:lead{ email = "again@yunqi.cn" }
      t:tag(lead, "pool:nurture")
      t:advance("91d")
      t:event(lead, "email.opened", { template = "we_miss_you_1" })
      t:expect_run(lead, "reactivation", "completed")
      t:advance("10d")
      t:tag(lead, "pool:nurture")
      t:advance("85d")
      -- the open at 91d is the last event: the second round starts at 181d
      t:expect_sent(lead, { template = "we_miss_you_1", at = "181d" })
      t:expect_sends(lead, 2)
    end,
  },
}
