-- Simulated-time tests of the scoring rules (scoring.lua, scoring_*.lua and
-- lib/scoring.lua). Events sent at the same simulated moment add up without
-- decay, so sums are exact.
local function exactly(t, lead, which, v)
  local got = t:field(lead, which)
  if math.abs(got - v) > 1e-9 then
    error("expected " .. which .. " " .. v .. ", got " .. got .. " at " .. t:fmt(t:elapsed()), 2)
  end
end

-- A lead whose fit is exactly 40: software (15) + manager (10) + 200 staff (15).
local function fit40(t, email)
  local lead = t:lead{ email = email, industry = "Software", title = "Marketing Manager", employees = 200 }
  t:event(lead, "lead.created")
  return lead
end

return {
  flows = { "scoring.lua", "scoring_email_opened.lua", "scoring_email_clicked.lua",
            "scoring_page_viewed.lua", "scoring_content_downloaded.lua",
            "scoring_webinar_attended.lua", "scoring_form_submitted.lua" },
  start = "2026-03-02T09:00:00+08:00",
  tests = {
    ["each behaviour earns its points, and they add up"] = function(t)
      local lead = t:lead{ email = "points@yunqi.cn" }      -- no profile: fit 0, never an MQL
      local steps = {
        { "email.opened", {}, 2 },
        { "email.clicked", {}, 7 },
        { "page.viewed", { page = "blog" }, 8 },
        { "page.viewed", { page = "case_studies" }, 11 },
        { "page.viewed", { page = "pricing" }, 21 },
        { "content.downloaded", { content = "ma_product_lead_scoring" }, 31 },
        { "webinar.attended", { webinar = "w1", minutes = 45 }, 51 },
        { "webinar.attended", { webinar = "w2", minutes = 12 }, 61 },
        { "webinar.attended", { webinar = "w3", minutes = 0 }, 61 },
        { "form.submitted", { form = "whitepaper" }, 71 },
        { "form.submitted", { form = "trial" }, 96 },
        { "form.submitted", { form = "demo_request" }, 126 },
        { "survey.answered", { interested = true }, 126 },   -- not a scored event
      }
      for _, s in ipairs(steps) do
        t:event(lead, s[1], next(s[2]) and s[2] or nil)   -- ({} is not accepted as props)
        exactly(t, lead, "heat", s[3])
      end
      exactly(t, lead, "fit", 0)
      t:expect_stage(lead, "Lead")
      t:expect_tag(lead, "behaviour:read:ma_product_lead_scoring")
    end,

    ["heat halves every 30 days"] = function(t)
      local lead = t:lead{ email = "decay@yunqi.cn" }
      t:event(lead, "form.submitted", { form = "demo_request" })    -- 30
      t:event(lead, "content.downloaded", { content = "x" })        -- 40
      exactly(t, lead, "heat", 40)
      t:advance("30d")
      t:event(lead, "email.opened")                                 -- 40 / 2 + 2
      exactly(t, lead, "heat", 22)
      t:advance("60d")
      t:event(lead, "page.viewed", { page = "blog" })                -- 22 / 4 + 1
      exactly(t, lead, "heat", 6.5)
      t:advance("15d")
      t:event(lead, "page.viewed", { page = "blog" })                -- 6.5 / √2 + 1
      exactly(t, lead, "heat", 6.5 / math.sqrt(2) + 1)
    end,

    ["fit comes from industry, title seniority and company size"] = function(t)
      local cases = {
        { { industry = "制造业", title = "CMO", employees = 1200 }, 55 },
        { { industry = "Software", title = "Marketing Manager", employees = 200 }, 40 },
        { { industry = "金融", title = "市场部经理", employees = "50-199" }, 28 },
        { { industry = "Retail", title = "副总经理", employees = 30 }, 26 },
        { { title = "Director of Marketing" }, 15 },                -- not a CTO
        { { title = "Marketing Specialist" }, 3 },
        { {}, 0 },
      }
      for i, c in ipairs(cases) do
        c[1].email = "fit" .. i .. "@example.cn"
        local lead = t:lead(c[1])
        t:event(lead, "lead.created")
        exactly(t, lead, "fit", c[2])
        exactly(t, lead, "heat", 0)
      end
    end,

    ["heat 60 and fit 40 make an MQL, exactly at the threshold"] = function(t)
      local lead = fit40(t, "mql@yunqi.cn")
      t:event(lead, "form.submitted", { form = "demo_request" })    -- 30
      t:event(lead, "webinar.attended", { webinar = "w1", minutes = 30 })   -- 50
      t:expect_stage(lead, "Lead")
      t:event(lead, "content.downloaded", { content = "roi" })      -- 60
      exactly(t, lead, "heat", 60)
      t:expect_stage(lead, "MQL")
    end,

    ["just below either threshold stays a Lead"] = function(t)
      local hot = fit40(t, "hot@yunqi.cn")                          -- heat 59, fit 40
      t:event(hot, "form.submitted", { form = "demo_request" })     -- 30
      t:event(hot, "webinar.attended", { webinar = "w1", minutes = 40 })   -- 50
      t:event(hot, "email.clicked")                                 -- 55
      t:event(hot, "email.opened")                                  -- 57
      t:event(hot, "email.opened")                                  -- 59
      exactly(t, hot, "heat", 59)
      t:expect_stage(hot, "Lead")
      t:event(hot, "page.viewed", { page = "blog" })                -- 60
      t:expect_stage(hot, "MQL")

      local misfit = t:lead{ email = "misfit@jinrong.cn", industry = "金融", title = "经理", employees = 100 }
      t:event(misfit, "lead.created")                               -- fit 28
      t:event(misfit, "form.submitted", { form = "demo_request" })
      t:event(misfit, "form.submitted", { form = "trial" })
      t:event(misfit, "content.downloaded", { content = "a" })
      exactly(t, misfit, "heat", 65)
      t:expect_stage(misfit, "Lead")
    end,

    ["decay keeps a lead that was hot a month ago below MQL"] = function(t)
      local slow = fit40(t, "slow@yunqi.cn")
      local fast = fit40(t, "fast@yunqi.cn")
      for _, lead in ipairs{ slow, fast } do
        t:event(lead, "form.submitted", { form = "demo_request" })
        t:event(lead, "webinar.attended", { webinar = "w1", minutes = 50 })   -- 50
      end
      t:event(fast, "form.submitted", { form = "whitepaper" })      -- same day: 60
      t:expect_stage(fast, "MQL")
      t:advance("30d")
      t:event(slow, "form.submitted", { form = "whitepaper" })      -- 25 + 10
      exactly(t, slow, "heat", 35)
      t:expect_stage(slow, "Lead")
    end,

    ["fit follows the profile as forms fill it in"] = function(t)
      local lead = t:lead{ email = "grow@yunqi.cn" }
      t:event(lead, "lead.created")
      t:event(lead, "form.submitted", { form = "demo_request" })
      t:event(lead, "form.submitted", { form = "trial" })
      t:event(lead, "content.downloaded", { content = "a" })        -- heat 65, fit 0
      t:expect_stage(lead, "Lead")
      -- the demo form told us more about them (progressive profiling)
      t:lead{ email = "grow@yunqi.cn", industry = "工业自动化", title = "总监", employees = "1000+" }
      t:event(lead, "email.opened")                                 -- heat 67, fit 15+15+20
      exactly(t, lead, "fit", 50)
      t:expect_stage(lead, "MQL")
    end,

    ["an SQL is never sent back to MQL; a recycled lead can come back"] = function(t)
      local sql = fit40(t, "sql@yunqi.cn")
      t:stage(sql, "SQL")
      t:event(sql, "form.submitted", { form = "demo_request" })
      t:event(sql, "form.submitted", { form = "contact_sales" })
      t:expect_stage(sql, "SQL")

      local back = fit40(t, "back@yunqi.cn")
      t:stage(back, "Recycled")                                     -- sales returned it
      t:event(back, "form.submitted", { form = "demo_request" })
      t:event(back, "form.submitted", { form = "contact_sales" })
      t:expect_stage(back, "MQL")
    end,
  },
}
