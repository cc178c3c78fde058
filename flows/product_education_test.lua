-- Simulated-time tests of product_education.lua (nurture flow test).
local LIBRARY = {
  { "ma_viewpoint_buyer_journey", "viewpoint" },
  { "ma_viewpoint_lead_leakage", "viewpoint" },
  { "ma_product_journey_builder", "product" },
  { "ma_product_lead_scoring", "product" },
  { "ma_competitive_overview", "competitive" },
  { "ma_competitive_switching_stories", "competitive" },
}

-- Exactly these pieces (indexes into LIBRARY), by email, one every 5 days from 0.
local function expect_drip(t, lead, pieces)
  local sent = t:sent(lead)
  if #sent ~= #pieces then error("expected " .. #pieces .. " pieces, got " .. #sent, 2) end
  for i, k in ipairs(pieces) do
    local s, want = sent[i], LIBRARY[k]
    if s.channel ~= "email" or s.template ~= want[1] or s.stage ~= want[2] or s.series ~= "ma_education"
       or s.at ~= (i - 1) * duration("5d") then
      error("piece " .. i .. ": expected email " .. want[1] .. " at " .. t:fmt((i - 1) * duration("5d"))
            .. ", got " .. s.channel .. " " .. tostring(s.template) .. " at " .. t:fmt(s.at), 2)
    end
  end
end

return {
  flows = { "product_education.lua" },
  start = "2026-03-02T09:00:00+08:00",
  tests = {
    ["six pieces, one every 5 days: viewpoint, then product, then competitive"] = function(t)
      local lead = t:lead{ email = "ma@yunqi.cn" }
      t:tag(lead, "interest:marketing_automation")
      t:expect_sent(lead, { template = "ma_viewpoint_buyer_journey", at = "0s" })
      t:advance("4d23h")
      t:expect_sends(lead, 1)
      t:advance("1h")
      t:expect_sends(lead, 2)
      t:advance("30d")
      expect_drip(t, lead, { 1, 2, 3, 4, 5, 6 })
      t:expect_run(lead, "product_education", "completed")
    end,

    ["content already read is skipped, and the next piece takes its slot"] = function(t)
      local lead = t:lead{ email = "reader@yunqi.cn" }
      t:tag(lead, "behaviour:read:ma_viewpoint_lead_leakage")
      t:tag(lead, "behaviour:read:ma_product_lead_scoring")
      t:tag(lead, "interest:marketing_automation")
      t:advance("40d")
      expect_drip(t, lead, { 1, 3, 5, 6 })
    end,

    ["content read elsewhere during the drip is skipped too"] = function(t)
      local lead = t:lead{ email = "web@yunqi.cn" }
      t:tag(lead, "interest:marketing_automation")
      t:advance("7d")                               -- pieces 1 and 2 are out
      t:tag(lead, "behaviour:read:ma_product_journey_builder")   -- downloaded it from the site
      t:advance("40d")
      expect_drip(t, lead, { 1, 2, 4, 5, 6 })
    end,

    ["opening a piece marks it read; the pace stays one every 5 days"] = function(t)
      local lead = t:lead{ email = "opener@yunqi.cn" }
      t:tag(lead, "interest:marketing_automation")
      t:advance("1d")
      t:event(lead, "email.opened", { template = "newsletter_march" })   -- not ours
      t:expect_no_tag(lead, "behaviour:read:ma_viewpoint_buyer_journey")
      t:event(lead, "email.opened", { template = "ma_viewpoint_buyer_journey" })
      t:expect_tag(lead, "behaviour:read:ma_viewpoint_buyer_journey")
      t:expect_sends(lead, 1)
      t:advance("40d")
      expect_drip(t, lead, { 1, 2, 3, 4, 5, 6 })
      t:expect_no_tag(lead, "behaviour:read:ma_viewpoint_lead_leakage")
    end,

    ["reentry never: the series is told once"] = function(t)
      local lead = t:lead{ email = "twice@yunqi.cn" }
      t:tag(lead, "interest:marketing_automation")
      t:advance("40d")
      t:expect_run(lead, "product_education", "completed")
      local run, why = t:enroll("product_education", lead)
      if run or not string.find(why, "reentry never", 1, true) then
        error("expected a refusal for reentry never, got " .. tostring(run) .. " " .. tostring(why))
      end
      t:advance("40d")
      t:expect_sends(lead, 6)
    end,

    ["becoming SQL ends the drip"] = function(t)
      local lead = t:lead{ email = "sql@yunqi.cn" }
      t:tag(lead, "interest:marketing_automation")
      t:advance("11d")
      t:stage(lead, "SQL")
      t:advance("30d")
      expect_drip(t, lead, { 1, 2, 3 })
      t:expect_run(lead, "product_education", "goal")
    end,

    ["other interests do not start it"] = function(t)
      local lead = t:lead{ email = "cdp@yunqi.cn" }
      t:tag(lead, "interest:cdp")
      t:advance("30d")
      t:expect_sends(lead, 0)
      if #t:runs(lead) ~= 0 then error("expected no run") end
    end,
  },
}
