-- A flow for the kill -9 test: three sends separated by short real-time
-- sleeps, a random draw and a split in between, and a tag at the end, so
-- a crash can land between any two effects.
return {
  name    = "crash_drill",
  trigger = { event = "form.submitted", where = { form = "drill" } },
  run = function(lead, event)
    send("email", { template = "a", n = event.n })
    sleep("1s")
    local arm = split{ left = 50, right = 50 }
    send("sms", { template = "b", arm = arm })
    sleep("1s")
    lead:tag("drill:" .. arm)
    send("wechat", { template = "c", r = random(1, 1000) })
    lead:tag("drill:done")
  end,
}
