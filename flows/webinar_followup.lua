-- Webinar: invitation, reminders, and follow-up by outcome (seed 001:
-- live sessions are where leads show real interest; attendees who stay are
-- worth a salesperson's call while the session is fresh in their mind).
--
--   invited ──▶ invitation email ──▶ registered? ── no ──▶ WeChat "last call" 2 days before
--                                        │ yes
--                                        ▼
--               confirmation email, reminder email 1 day before,
--               reminder 1 hour before (SMS if we have a phone, else WeChat)
--                                        ▼
--               attended? ── yes ▶ replay + thanks; ≥ 30 minutes: WeCom alert to sales
--                         └─ no ─▶ "sorry we missed you" email with the replay link
--
-- The trigger event `webinar.invited` carries the webinar: props
--   webinar = "ma-2026-03" (id), title = "…", starts_at = RFC 3339 text
--   ("2026-03-10T14:00:00+08:00") or epoch milliseconds,
--   duration_minutes = 60 (optional, 90 when missing), join_url, replay_url.
-- Registration and attendance come as `webinar.registered` and
-- `webinar.attended` (props webinar = the same id, minutes = time watched).
--
-- Note: a lead is in one run of this flow at a time. An invitation to a
-- second webinar that arrives while the first one's run is still going is
-- refused by the engine ("already in flow"); space the invitations out.
return {
  name    = "webinar_followup",
  trigger = { event = "webinar.invited" },
  reentry = "always",          -- every new webinar is a new invitation
  -- A reminder that would go out more than 30 minutes late (the service was
  -- down at the time) is skipped: a "starts in 1 hour" after the start is worse
  -- than nothing.
  on_late = "skip",
  late_after = "30m",
  description = "Webinar invitation, reminders 1 day and 1 hour before, follow-up by attendance",
  run = function(lead, event)
    local MINUTE, HOUR, DAY = 60000, 3600000, 86400000
    local SALES_ALERT_MINUTES = 30      -- attendees who stayed this long go to sales

    -- "2026-03-10T14:00:00+08:00" / "…Z" / epoch ms → epoch ms.
    local function to_ms(v)
      if math.type(v) == "integer" then return v end
      if type(v) == "number" then return math.floor(v) end
      if type(v) ~= "string" then return nil end
      local y, mo, d, h, mi, s, zone =
        v:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)%.?%d*(.*)$")
      if not y then return nil end
      local offset
      if zone == "Z" or zone == "z" then
        offset = 0
      else
        local sign, oh, om = zone:match("^([%+%-])(%d%d):?(%d%d)$")
        if not sign then return nil end
        offset = (tonumber(oh) * 60 + tonumber(om)) * MINUTE
        if sign == "-" then offset = -offset end
      end
      y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
      -- days since 1970-01-01 of a civil date (H. Hinnant's algorithm)
      if mo <= 2 then y = y - 1 end
      local era = y // 400
      local yoe = y - era * 400
      local doy = (153 * ((mo + 9) % 12) + 2) // 5 + d - 1
      local days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
      return days * DAY + (tonumber(h) * 60 + tonumber(mi)) * MINUTE + tonumber(s) * 1000 - offset
    end

    -- The webinar comes from the invitation event; enrolling by hand (no
    -- event) cannot work, and neither can an invitation without a start time.
    event = event or {}
    local webinar = event.webinar
    local starts = to_ms(event.starts_at)
    if not webinar or not starts then
      error("webinar_followup starts from a webinar.invited event with props webinar and "
            .. "starts_at (RFC 3339 text or ms); got webinar = " .. tostring(event.webinar)
            .. ", starts_at = " .. tostring(event.starts_at))
    end
    local ends = starts + (tonumber(event.duration_minutes) or 90) * MINUTE

    -- Every message names the webinar, so one template serves all sessions.
    local function message(template, extra)
      local m = { template = template, webinar = webinar, title = event.title, starts_at = starts,
                  join_url = event.join_url, replay_url = event.replay_url }
      for k, v in pairs(extra or {}) do m[k] = v end
      return m
    end
    -- wait_event takes "within" as a duration: from now until time t.
    local function until_(t)
      return string.format("%dms", math.max(t - now(), 1))
    end
    local function this_webinar(type_, deadline)
      if now() >= deadline then return nil end
      return wait_event(type_, { within = until_(deadline), where = { webinar = webinar } })
    end

    -- 1. Invite, and wait for the registration.
    send("email", message("webinar_invitation"))
    local last_call = starts - 2 * DAY
    local registered
    if now() < last_call then
      registered = this_webinar("webinar.registered", last_call)
      -- not yet: one last call on WeChat, two days before
      if not registered then send("wechat", message("webinar_last_call")) end
    end
    -- late registrations count until the session ends
    registered = registered or this_webinar("webinar.registered", ends)
    if not registered then
      return        -- never registered: this invitation is done
    end

    -- 2. Registered: confirm, then remind 1 day and 1 hour before (only the
    -- reminders that are still ahead of us).
    lead:tag("behaviour:registered_webinar")
    send("email", message("webinar_confirmation"))
    if now() < starts - DAY then
      if wait_until(starts - DAY) then send("email", message("webinar_reminder_1d")) end
    end
    if now() < starts - HOUR then
      if wait_until(starts - HOUR) then
        -- SMS gets read within the hour; WeChat when we have no phone number
        if lead:get("phone") then
          send("sms", message("webinar_reminder_1h"))
        else
          send("wechat", message("webinar_reminder_1h"))
        end
      end
    end

    -- 3. Outcome. The platform reports attendance after the session; give
    -- it a day before calling the lead a no-show.
    local attended = this_webinar("webinar.attended", ends + DAY)
    if attended then
      local minutes = tonumber(attended.minutes) or 0
      lead:tag("behaviour:attended_webinar")
      send("email", message("webinar_replay_attendee", { minutes = minutes }))
      if minutes >= SALES_ALERT_MINUTES then
        -- hot lead: tell the owner (or the sales team) on WeCom right away
        send("wecom", message("sales_alert_webinar", {
          to = "owner", owner = lead:get("owner"), minutes = minutes,
          lead_name = lead:get("name"), company = lead:get("company"),
        }))
      end
    else
      send("email", message("webinar_replay_noshow"))
    end
  end,
}
