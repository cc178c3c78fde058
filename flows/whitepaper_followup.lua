-- White-paper follow-up (seed 001): the lead downloaded a white paper.
-- Email it at once; if it is opened within 3 days, send deeper content,
-- otherwise remind on WeChat. A week later, a survey; engaged leads go to
-- sales as MQL, the rest back to the nurture pool.
return {
  name    = "whitepaper_followup",
  trigger = { event = "form.submitted", where = { form = "whitepaper" } },
  reentry = "30d",
  goal    = { stage = "SQL" },
  exclusion = "nurture",
  run = function(lead, event)
    -- event is nil when a lead is enrolled by hand (nurture flow enroll)
    local topic = event and event.topic
    lead:tag("behaviour:downloaded_whitepaper")
    if topic then lead:tag("interest:" .. topic) end
    send("email", { template = "whitepaper", topic = topic })

    if wait_event("email.opened", { within = "3d" }) then
      lead:score("heat", 10, { half_life = "30d" })
      send("email", { template = "case_study", topic = topic })
    else
      send("wechat", { template = "whitepaper_reminder" })
    end

    sleep("7d")
    send("email", { template = "survey" })
    local answer = wait_event("survey.answered", { within = "5d" })
    if answer and answer.interested then
      lead:score("heat", 30, { half_life = "30d" })
    end

    if lead:score("heat", nil, { half_life = "30d" }) >= 30 then
      lead:stage("MQL", "white paper follow-up: engaged")
    else
      lead:tag("pool:nurture")
    end
  end,
}
