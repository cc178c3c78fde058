-- Welcome series (seed 001, 卷入型 · 欢迎式): a new lead gets 30 touches over
-- 13 weeks, alternating email and WeChat, "give before you ask": first
-- hello and an invitation to follow us on WeChat, then viewpoint content for
-- their industry, then our product, and only in the last weeks a trial or a
-- consultation offer.
--
-- When: on weekdays at 10:00 in the lead's own time zone (leads without a
-- time zone are treated as Beijing time — most of our leads are in China).
-- What: some touches have one version per industry or per product line;
-- the lead's `industry` and `product_interest` pick the version, and
-- "general" is used when we do not know.
-- Stop: as soon as the lead becomes SQL (sales owns the conversation then).
--
-- The trigger is a `lead.created` event: whatever creates leads (form
-- plugin, import, CRM sync) sends one when it creates a lead.
return {
  name    = "welcome_series",
  trigger = { event = "lead.created" },
  reentry = "never",           -- one welcome per lead, ever
  goal    = { stage = "SQL" },
  -- If the service was down at 10:00 and wakes up more than 2 hours late,
  -- the touch waits for the next weekday 10:00 instead of going out at night.
  on_late = "skip",
  late_after = "2h",
  description = "13-week, 30-touch welcome series over email and WeChat",
  run = function(lead, event)
    local WEEKDAYS = { 1, 2, 3, 4, 5 }   -- Monday … Friday

    -- The plan. "week 2, day 3" is the 8th weekday after sign-up (weeks
    -- count from the sign-up, not from the calendar). `by` says which
    -- versions a touch has: one per industry or one per product line.
    local TOUCHES = {
      -- week 1: say hello, move the conversation to WeChat
      { week = 1,  day = 1, channel = "email",  content = "welcome",          by = "product" },
      { week = 1,  day = 2, channel = "email",  content = "wechat_invite" },
      { week = 1,  day = 4, channel = "wechat", content = "getting_started" },
      -- weeks 2–4: viewpoint content about their industry's problems
      { week = 2,  day = 1, channel = "email",  content = "industry_report",  by = "industry" },
      { week = 2,  day = 3, channel = "wechat", content = "article_buyer_journey" },
      { week = 2,  day = 5, channel = "email",  content = "customer_story",   by = "industry" },
      { week = 3,  day = 2, channel = "email",  content = "webinar_invite" },
      { week = 3,  day = 4, channel = "wechat", content = "article_lead_scoring" },
      { week = 4,  day = 1, channel = "email",  content = "whitepaper",       by = "product" },
      { week = 4,  day = 3, channel = "wechat", content = "case_video",       by = "industry" },
      { week = 4,  day = 5, channel = "email",  content = "best_practices" },
      -- weeks 5–9: our product, with proof from their industry
      { week = 5,  day = 2, channel = "wechat", content = "article_content_marketing" },
      { week = 5,  day = 4, channel = "email",  content = "product_tour",     by = "product" },
      { week = 6,  day = 1, channel = "email",  content = "case_study",       by = "industry" },
      { week = 6,  day = 3, channel = "wechat", content = "livestream_invite" },
      { week = 6,  day = 5, channel = "email",  content = "roi_calculator",   by = "product" },
      { week = 7,  day = 2, channel = "wechat", content = "article_sales_alignment" },
      { week = 7,  day = 4, channel = "email",  content = "benchmark_report", by = "industry" },
      { week = 8,  day = 2, channel = "email",  content = "demo_video",       by = "product" },
      { week = 8,  day = 4, channel = "wechat", content = "customer_voices" },
      { week = 9,  day = 2, channel = "email",  content = "integration_guide", by = "product" },
      { week = 9,  day = 4, channel = "wechat", content = "article_data_compliance" },
      -- weeks 10–13: why us rather than others, then the ask
      { week = 10, day = 2, channel = "email",  content = "comparison_guide", by = "product" },
      { week = 10, day = 4, channel = "wechat", content = "offline_event_invite" },
      { week = 11, day = 2, channel = "email",  content = "roi_story",        by = "industry" },
      { week = 11, day = 4, channel = "wechat", content = "article_implementation" },
      { week = 12, day = 2, channel = "email",  content = "trial_offer",      by = "product" },
      { week = 12, day = 4, channel = "wechat", content = "survey" },
      { week = 13, day = 2, channel = "email",  content = "consultation_offer" },
      { week = 13, day = 4, channel = "wechat", content = "stay_in_touch" },
    }

    -- Free-text attributes → the version keys the templates exist for.
    -- The first matching word wins; English and Chinese spellings both work.
    local INDUSTRIES = {
      { key = "manufacturing", words = { "manufactur", "industrial", "制造", "工业" } },
      { key = "tech",          words = { "software", "saas", "internet", "tech", "软件", "互联网", "科技", "信息" } },
      { key = "finance",       words = { "financ", "bank", "insurance", "金融", "银行", "保险", "证券" } },
      { key = "healthcare",    words = { "health", "medical", "pharma", "医疗", "医药", "健康" } },
    }
    local PRODUCTS = {
      { key = "marketing_automation", words = { "marketing_automation", "marketing automation", "营销自动化" } },
      { key = "scrm",                 words = { "scrm", "social crm", "社交" } },
      { key = "cdp",                  words = { "cdp", "customer data", "客户数据" } },
    }
    local function pick(text, table_)
      if not text then return "general" end
      local t = string.lower(text)
      for _, entry in ipairs(table_) do
        for _, w in ipairs(entry.words) do
          if string.find(t, w, 1, true) then return entry.key end
        end
      end
      return "general"
    end

    local version = {
      industry = pick(lead:get("industry"), INDUSTRIES),
      product  = pick(lead:get("product_interest"), PRODUCTS),
    }
    lead:tag("campaign:welcome")

    -- Waits for the next weekday 10:00 in the lead's time zone. Without a
    -- time zone the engine would use UTC, so we ask for 02:00 UTC, which
    -- is 10:00 the same day in Beijing.
    -- (wait_until answers false when it woke up too late: then wait again.)
    local function next_weekday_10am()
      local on_time
      repeat
        if lead:get("timezone") then
          on_time = wait_until{ hour = 10, minute = 0, weekdays = WEEKDAYS }
        else
          on_time = wait_until{ hour = 2, minute = 0, weekdays = WEEKDAYS, local_time = false }
        end
      until on_time
    end

    local weekdays_passed = 0
    for i, touch in ipairs(TOUCHES) do
      local due = (touch.week - 1) * 5 + touch.day
      while weekdays_passed < due do
        next_weekday_10am()
        weekdays_passed = weekdays_passed + 1
      end

      local template = touch.content
      if touch.by then template = template .. "_" .. version[touch.by] end
      local message = { template = template, series = "welcome", touch = i }

      local ok, info = send(touch.channel, message)
      -- A WeChat template message only reaches followers of our service
      -- account: if it failed, send the same content by email. ("unknown" —
      -- it may have arrived — is left alone rather than risk sending twice.)
      if not ok and info.status == "failed" and touch.channel == "wechat" then
        send("email", message)
      end
    end

    -- Finished without becoming SQL: keep nurturing them with drips.
    lead:untag("campaign:welcome")
    lead:tag("pool:nurture")
  end,
}
