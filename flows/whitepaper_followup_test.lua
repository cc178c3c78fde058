-- Simulated-time tests of whitepaper_followup.lua (nurture flow test).
return {
  flows = { "whitepaper_followup.lua" },
  start = "2026-03-02T09:00:00+08:00",
  tests = {
    ["opened within 3 days: case study, then survey; interested leads become MQL"] = function(t)
      local lead = t:lead{ email = "wang.lei@yunqi.cn", name = "王磊", timezone = "Asia/Shanghai" }
      t:event(lead, "form.submitted", { form = "whitepaper", topic = "crm" })
      t:expect_sent(lead, { channel = "email", template = "whitepaper", at = "0s" })
      t:expect_tag(lead, "interest:crm")
      t:advance("1d")
      t:event(lead, "email.opened", { campaign = "whitepaper" })
      t:expect_sent(lead, { channel = "email", template = "case_study", at = "1d" })
      t:advance("7d")
      t:expect_sent(lead, { channel = "email", template = "survey", at = "8d" })
      t:advance("1d")
      t:event(lead, "survey.answered", { interested = true })
      t:expect_stage(lead, "MQL")
      t:expect_run(lead, "whitepaper_followup", "completed")
      t:expect_no_send(lead, { template = "whitepaper_reminder" })
    end,

    ["not opened: WeChat reminder after 3 days, then back to the pool"] = function(t)
      local lead = t:lead{ email = "li.na@hengtai.com" }
      t:event(lead, "form.submitted", { form = "whitepaper", topic = "cdp" })
      t:advance("3d")
      t:expect_sent(lead, { channel = "wechat", template = "whitepaper_reminder", at = "3d" })
      t:advance("20d")
      t:expect_sent(lead, { channel = "email", template = "survey", at = "10d" })
      t:expect_tag(lead, "pool:nurture")
      t:expect_stage(lead, "Lead")
      t:expect_sends(lead, 3)
    end,

    ["other forms do not trigger it"] = function(t)
      local lead = t:lead{ email = "x@y.cn" }
      t:event(lead, "form.submitted", { form = "demo_request" })
      t:advance("30d")
      t:expect_sends(lead, 0)
    end,

    ["a lead already at SQL is not enrolled (the goal is met)"] = function(t)
      local lead = t:lead{ email = "sql@y.cn" }
      t:stage(lead, "SQL")
      t:event(lead, "form.submitted", { form = "whitepaper" })
      t:advance("10d")
      t:expect_sends(lead, 0)
      local runs = t:runs(lead)
      if #runs ~= 0 then error("expected no run, got " .. #runs) end
    end,

    ["reaching SQL ends the run, even while it waits"] = function(t)
      local lead = t:lead{ email = "z@y.cn" }
      t:event(lead, "form.submitted", { form = "whitepaper" })
      t:advance("1d")
      t:stage(lead, "SQL")
      t:advance("30d")
      t:expect_run(lead, "whitepaper_followup", "goal")
      t:expect_sends(lead, 1)
    end,
  },
}
