-- Simulated-time tests of webinar_followup.lua (nurture flow test).
--
-- The test starts Monday 2026-03-02 09:00 Beijing time; the webinar is on
-- Tuesday 2026-03-10 14:00 Beijing time, i.e. 8d5h after the start:
--   last call (2 days before) +6d5h · reminder 1 day before +7d5h
--   reminder 1 hour before +8d4h · start +8d5h
local START = 1772413200000          -- 2026-03-02T09:00:00+08:00 in ms
local STARTS_AT = "2026-03-10T14:00:00+08:00"

local function invite(t, lead, props)
  local p = { webinar = "ma-2026-03", title = "营销自动化实战", starts_at = STARTS_AT,
              duration_minutes = 60, join_url = "https://live.example.cn/j/1",
              replay_url = "https://live.example.cn/r/1" }
  for k, v in pairs(props or {}) do
    if v == false then p[k] = nil else p[k] = v end     -- false: leave the prop out
  end
  t:event(lead, "webinar.invited", p)
end

return {
  flows = { "webinar_followup.lua" },
  start = "2026-03-02T09:00:00+08:00",
  tests = {
    ["registered and stayed 45 minutes: reminders, replay, WeCom alert to sales, tagged"] = function(t)
      local lead = t:lead{ email = "wang.lei@yunqi.cn", name = "王磊", company = "云启科技",
                           phone = "13800138000", timezone = "Asia/Shanghai" }
      invite(t, lead)
      t:expect_sent(lead, { channel = "email", template = "webinar_invitation", at = "0s",
                            webinar = "ma-2026-03", join_url = "https://live.example.cn/j/1" })
      t:advance("1d")
      t:event(lead, "webinar.registered", { webinar = "ma-2026-03" })
      t:expect_sent(lead, { channel = "email", template = "webinar_confirmation", at = "1d" })
      t:expect_tag(lead, "behaviour:registered_webinar")
      t:advance("7d7h")                            -- to +8d7h: the session is over
      t:expect_sent(lead, { channel = "email", template = "webinar_reminder_1d", at = "7d5h" })
      t:expect_sent(lead, { channel = "sms", template = "webinar_reminder_1h", at = "8d4h" })
      t:expect_no_tag(lead, "behaviour:attended_webinar")
      t:event(lead, "webinar.attended", { webinar = "ma-2026-03", minutes = 45 })
      t:expect_sent(lead, { channel = "email", template = "webinar_replay_attendee", at = "8d7h",
                            minutes = 45, replay_url = "https://live.example.cn/r/1" })
      local alert = t:expect_sent(lead, { channel = "wecom", template = "sales_alert_webinar",
                                          at = "8d7h", to = "owner", minutes = 45 })
      if alert.lead_name ~= "王磊" or alert.company ~= "云启科技" then
        error("sales alert lacks the lead's name and company")
      end
      t:expect_tag(lead, "behaviour:attended_webinar")
      t:expect_no_send(lead, { template = "webinar_last_call" })
      t:expect_no_send(lead, { template = "webinar_replay_noshow" })
      t:expect_sends(lead, 6)
      t:expect_run(lead, "webinar_followup", "completed")
    end,

    ["attended only 20 minutes: replay and tag, but no sales alert"] = function(t)
      local lead = t:lead{ email = "li.na@hengtai.com", phone = "13900139000" }
      invite(t, lead)
      t:event(lead, "webinar.registered", { webinar = "ma-2026-03" })
      t:advance("8d6h")
      t:event(lead, "webinar.attended", { webinar = "ma-2026-03", minutes = 20 })
      t:expect_sent(lead, { channel = "email", template = "webinar_replay_attendee", at = "8d6h", minutes = 20 })
      t:expect_no_send(lead, { channel = "wecom" })
      t:expect_tag(lead, "behaviour:attended_webinar")
      t:expect_sends(lead, 5)
    end,

    ["exactly 30 minutes is enough for the sales alert"] = function(t)
      local lead = t:lead{ email = "edge@hengtai.com" }
      invite(t, lead)
      t:event(lead, "webinar.registered", { webinar = "ma-2026-03" })
      t:advance("8d6h")
      t:event(lead, "webinar.attended", { webinar = "ma-2026-03", minutes = 30 })
      t:expect_sent(lead, { channel = "wecom", template = "sales_alert_webinar", minutes = 30 })
    end,

    ["registered, did not attend: replay link by email a day after the session"] = function(t)
      local lead = t:lead{ email = "zhou.yu@jinrong.cn" }      -- no phone
      invite(t, lead, { duration_minutes = false })          -- default length: 90 minutes
      t:advance("3d")
      t:event(lead, "webinar.registered", { webinar = "ma-2026-03" })
      t:advance("6d")
      -- no phone number: the 1-hour reminder goes over WeChat
      t:expect_sent(lead, { channel = "wechat", template = "webinar_reminder_1h", at = "8d4h" })
      -- attending another webinar does not count for this one
      t:event(lead, "webinar.attended", { webinar = "cdp-2026-02", minutes = 50 })
      t:advance("2d")
      t:expect_sent(lead, { channel = "email", template = "webinar_replay_noshow", at = "9d6h30m",
                            replay_url = "https://live.example.cn/r/1" })
      t:expect_no_send(lead, { template = "webinar_replay_attendee" })
      t:expect_no_tag(lead, "behaviour:attended_webinar")
      t:expect_sends(lead, 5)
      t:expect_run(lead, "webinar_followup", "completed")
    end,

    ["never registered: one WeChat last call two days before, then nothing"] = function(t)
      local lead = t:lead{ email = "never@example.cn" }
      invite(t, lead)
      t:advance("20d")
      t:expect_sent(lead, { channel = "wechat", template = "webinar_last_call", at = "6d5h" })
      t:expect_sends(lead, 2)
      t:expect_no_tag(lead, "behaviour:registered_webinar")
      t:expect_run(lead, "webinar_followup", "completed")
    end,

    ["a late registration gets only the reminders still ahead; starts_at as epoch ms"] = function(t)
      local lead = t:lead{ email = "late@example.cn", phone = "13700137000" }
      invite(t, lead, { starts_at = START + duration("8d5h") })
      t:advance("7d6h")                            -- past the 1-day mark
      t:event(lead, "webinar.registered", { webinar = "ma-2026-03" })
      t:advance("2d")
      t:expect_sent(lead, { channel = "wechat", template = "webinar_last_call", at = "6d5h" })
      t:expect_sent(lead, { channel = "email", template = "webinar_confirmation", at = "7d6h" })
      t:expect_sent(lead, { channel = "sms", template = "webinar_reminder_1h", at = "8d4h" })
      t:expect_no_send(lead, { template = "webinar_reminder_1d" })
    end,

    ["starts_at in UTC ('Z') or with a negative offset is the same moment"] = function(t)
      local utc = t:lead{ email = "utc@example.cn" }
      local ny = t:lead{ email = "ny@example.com" }
      invite(t, utc, { starts_at = "2026-03-10T06:00:00Z" })
      invite(t, ny, { starts_at = "2026-03-10T01:00:00.000-05:00" })
      t:event(utc, "webinar.registered", { webinar = "ma-2026-03" })
      t:event(ny, "webinar.registered", { webinar = "ma-2026-03" })
      t:advance("9d")
      for _, lead in ipairs{ utc, ny } do
        t:expect_sent(lead, { template = "webinar_reminder_1d", at = "7d5h" })
        t:expect_sent(lead, { template = "webinar_reminder_1h", at = "8d4h" })
      end
    end,

    ["an invitation without a start time fails the run and says why"] = function(t)
      local lead = t:lead{ email = "broken@example.cn" }
      t:event(lead, "webinar.invited", { webinar = "ma-2026-03", starts_at = "next Tuesday" })
      t:expect_sends(lead, 0)
      t:expect_run(lead, "webinar_followup", "failed")
      local run = t:runs(lead)[1]
      if not string.find(run.error, "starts_at = next Tuesday", 1, true) then error("unclear error: " .. run.error) end
      -- enrolled by hand there is no invitation at all: same clear failure
      local other = t:lead{ email = "manual@example.cn" }
      t:enroll("webinar_followup", other)
      t:expect_run(other, "webinar_followup", "failed")
      if not string.find(t:runs(other)[1].error, "webinar.invited event", 1, true) then
        error("unclear error: " .. t:runs(other)[1].error)
      end
    end,
  },
}
