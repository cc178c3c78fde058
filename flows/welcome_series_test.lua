-- Simulated-time tests of welcome_series.lua (nurture flow test).
--
-- t:sent(lead)[i].at is milliseconds since `start`; adding START gives the
-- UTC time of the send, from which the helpers below work out the local
-- wall-clock time and weekday, independently of the engine.
local START = 1772413200000          -- 2026-03-02T09:00:00+08:00, a Monday
local HOUR, DAY = 3600000, 86400000
local WEEK = 7 * DAY

local function beijing(_) return 8 * HOUR end
local function los_angeles(utc)      -- PDT from 2026-03-08 10:00 UTC to 2026-11-01 09:00 UTC
  if utc >= 1772964000000 and utc < 1793523600000 then return -7 * HOUR end
  return -8 * HOUR
end

-- Local day number, weekday (1 = Monday) and time of day (ms) of a UTC time.
local function clock(utc, zone)
  local l = utc + zone(utc)
  local dayno = l // DAY
  return dayno, (dayno + 3) % 7 + 1, l % DAY
end

-- Which weekday after the start a local day is: 1 for the first weekday
-- whose 10:00 comes after the start, 2 for the next, …
local function weekday_number(dayno, zone)
  local first, _, tod = clock(START, zone)
  local n = 0
  for d = first, dayno do
    local wd = (d + 3) % 7 + 1
    if wd <= 5 and not (d == first and tod >= 10 * HOUR) then n = n + 1 end
  end
  return n
end

-- The plan, restated from the spec: week, day, channel, content, and which
-- version key the content has (nil: one version for everybody).
local PLAN = {
  { 1, 1, "email", "welcome", "product" },      { 1, 2, "email", "wechat_invite" },
  { 1, 4, "wechat", "getting_started" },         { 2, 1, "email", "industry_report", "industry" },
  { 2, 3, "wechat", "article_buyer_journey" },   { 2, 5, "email", "customer_story", "industry" },
  { 3, 2, "email", "webinar_invite" },           { 3, 4, "wechat", "article_lead_scoring" },
  { 4, 1, "email", "whitepaper", "product" },    { 4, 3, "wechat", "case_video", "industry" },
  { 4, 5, "email", "best_practices" },           { 5, 2, "wechat", "article_content_marketing" },
  { 5, 4, "email", "product_tour", "product" },  { 6, 1, "email", "case_study", "industry" },
  { 6, 3, "wechat", "livestream_invite" },       { 6, 5, "email", "roi_calculator", "product" },
  { 7, 2, "wechat", "article_sales_alignment" }, { 7, 4, "email", "benchmark_report", "industry" },
  { 8, 2, "email", "demo_video", "product" },    { 8, 4, "wechat", "customer_voices" },
  { 9, 2, "email", "integration_guide", "product" }, { 9, 4, "wechat", "article_data_compliance" },
  { 10, 2, "email", "comparison_guide", "product" }, { 10, 4, "wechat", "offline_event_invite" },
  { 11, 2, "email", "roi_story", "industry" },   { 11, 4, "wechat", "article_implementation" },
  { 12, 2, "email", "trial_offer", "product" },  { 12, 4, "wechat", "survey" },
  { 13, 2, "email", "consultation_offer" },      { 13, 4, "wechat", "stay_in_touch" },
}

local function expected_template(row, industry, product)
  if row[5] == "industry" then return row[4] .. "_" .. industry end
  if row[5] == "product" then return row[4] .. "_" .. product end
  return row[4]
end

-- Checks every send against the plan: order, channel, template, the
-- weekday it falls on, and exactly 10:00:00.000 local time.
local function check_plan(t, lead, zone, industry, product)
  local sent = t:sent(lead)
  if #sent ~= #PLAN then error("expected " .. #PLAN .. " touches, got " .. #sent, 2) end
  local emails, wechats = 0, 0
  for i, row in ipairs(PLAN) do
    local s, want = sent[i], expected_template(row, industry, product)
    local where = "touch " .. i .. " (" .. t:fmt(s.at) .. " " .. s.channel .. " " .. tostring(s.template) .. ")"
    if s.channel ~= row[3] or s.template ~= want or s.touch ~= i or s.series ~= "welcome" then
      error(where .. ": expected " .. row[3] .. " " .. want, 2)
    end
    local dayno, wd, tod = clock(START + s.at, zone)
    if wd > 5 then error(where .. ": falls on weekday " .. wd, 2) end
    if tod ~= 10 * HOUR then error(where .. ": local time of day is " .. tod .. " ms, not 10:00", 2) end
    local n, want_n = weekday_number(dayno, zone), (row[1] - 1) * 5 + row[2]
    if n ~= want_n then error(where .. ": weekday number " .. n .. ", expected " .. want_n, 2) end
    if s.channel == "email" then emails = emails + 1 else wechats = wechats + 1 end
  end
  if emails ~= 17 or wechats ~= 13 then
    error("expected 17 emails and 13 WeChat messages, got " .. emails .. " and " .. wechats, 2)
  end
  -- 13 weeks: the last touch is in the 13th week after sign-up
  local last = sent[#sent].at
  if not (last > 12 * WEEK and last < 13 * WEEK) then error("last touch at " .. t:fmt(last), 2) end
end

return {
  flows = { "welcome_series.lua" },
  start = "2026-03-02T09:00:00+08:00",
  tests = {
    ["30 touches in order over 13 weeks, weekdays at 10:00 Beijing time"] = function(t)
      local lead = t:lead{ email = "chen.jie@huaxin-mfg.cn", name = "陈洁", timezone = "Asia/Shanghai",
                           industry = "制造业", product_interest = "营销自动化" }
      t:event(lead, "lead.created", { source = "website" })
      t:expect_sends(lead, 0)                       -- Monday 09:00: wait for 10:00
      t:advance("1h")
      t:expect_sent(lead, { channel = "email", template = "welcome_marketing_automation", at = "1h" })
      t:expect_tag(lead, "campaign:welcome")
      -- Tuesday 10:00, then Thursday 10:00 (day 3 has no touch)
      t:advance("2d")
      t:expect_sent(lead, { channel = "email", template = "wechat_invite", at = "1d1h" })
      t:expect_sends(lead, 2)
      t:advance("13w")
      check_plan(t, lead, beijing, "manufacturing", "marketing_automation")
      t:expect_run(lead, "welcome_series", "completed")
      t:expect_no_tag(lead, "campaign:welcome")
      t:expect_tag(lead, "pool:nurture")
    end,

    ["a US lead gets 10:00 Los Angeles time, before and after daylight saving starts"] = function(t)
      local lead = t:lead{ email = "dana@acme.io", timezone = "America/Los_Angeles",
                           industry = "Software", product_interest = "CDP" }
      t:event(lead, "lead.created", { source = "website" })
      t:advance("14w")
      -- Start is Sunday 17:00 PST: the first touch is Monday 10:00 PST (18:00 UTC) …
      t:expect_sent(lead, { template = "welcome_cdp", at = "17h" })
      -- … and after 2026-03-08 10:00 local is 17:00 UTC.
      t:expect_sent(lead, { template = "industry_report_tech", at = "7d16h" })
      check_plan(t, lead, los_angeles, "tech", "cdp")
    end,

    ["a lead without a time zone is treated as Beijing time"] = function(t)
      local lead = t:lead{ email = "wu.fang@jinrong.cn", industry = "银行", product_interest = "SCRM" }
      t:event(lead, "lead.created")
      t:advance("14w")
      check_plan(t, lead, beijing, "finance", "scrm")
    end,

    ["unknown industry and product get the general versions"] = function(t)
      local lead = t:lead{ email = "someone@example.cn", timezone = "Asia/Shanghai" }
      t:event(lead, "lead.created")
      t:advance("14w")
      check_plan(t, lead, beijing, "general", "general")
      t:expect_sent(lead, { template = "case_study_general", channel = "email" })
    end,

    ["becoming SQL stops the series mid-way"] = function(t)
      local lead = t:lead{ email = "zhao.min@yunqi.cn", timezone = "Asia/Shanghai" }
      t:event(lead, "lead.created")
      t:advance("3w")                               -- weeks 1–3 done: 8 touches
      t:expect_sends(lead, 8)
      t:stage(lead, "SQL")
      t:advance("12w")
      t:expect_sends(lead, 8)
      t:expect_no_send(lead, { template = "whitepaper_general" })
      t:expect_run(lead, "welcome_series", "goal")
      t:expect_no_tag(lead, "pool:nurture")
    end,

    ["becoming MQL does not stop it: only SQL does"] = function(t)
      local lead = t:lead{ email = "sun.li@yunqi.cn", timezone = "Asia/Shanghai" }
      t:event(lead, "lead.created")
      t:advance("2w")
      t:stage(lead, "MQL")
      t:advance("12w")
      t:expect_sends(lead, 30)
      t:expect_run(lead, "welcome_series", "completed")
    end,

    ["a lead gets the series once, and only on lead.created"] = function(t)
      local lead = t:lead{ email = "once@yunqi.cn", timezone = "Asia/Shanghai" }
      t:event(lead, "form.submitted", { form = "newsletter" })
      t:advance("1w")
      t:expect_sends(lead, 0)
      t:event(lead, "lead.created")
      t:advance("14w")
      t:expect_sends(lead, 30)
      t:event(lead, "lead.created")
      t:advance("2w")
      t:expect_sends(lead, 30)
      local runs = t:runs(lead)
      if #runs ~= 1 then error("expected one run, got " .. #runs) end
    end,
  },
}
