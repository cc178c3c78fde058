-- lib/scoring.lua — the lead-scoring model, shared by the scoring rules
-- (flows/scoring.lua and flows/scoring_*.lua: one small rule per event,
-- because a rule has exactly one trigger event).
--
-- Two scores (seed 001: 线索打分; DESIGN: fit vs heat):
--   heat — what they did: points per behaviour. Heat halves every 30 days
--          without news, so last quarter's burst of clicks does not make a
--          lead hot today.
--   fit  — who they are: points for industry, seniority and company size,
--          recomputed from the lead's attributes on every event (forms and
--          imports fill the profile in over time).
-- A Lead (or a Recycled lead) with heat >= 60 and fit >= 40 becomes an MQL:
-- hot but wrong-profile leads and right-profile but cold leads stay in
-- nurture.
--
-- Change the points here; every rule picks them up on its next deploy.
local M = {}

M.HALF_LIFE = "30d"
M.HALF_LIFE_MS = 30 * 24 * 3600 * 1000
M.MQL_HEAT  = 60
M.MQL_FIT   = 40

-- Heat points per event type: a number, or a function of the event.
M.HEAT = {
  ["lead.created"]  = 0,
  ["email.opened"]  = 2,
  ["email.clicked"] = 5,
  ["page.viewed"] = function(e)
    if e.page == "pricing" then return 10 end                      -- a buying signal
    if e.page == "product" or e.page == "case_studies" then return 3 end
    return 1                                                       -- blog, home …
  end,
  ["content.downloaded"] = 10,
  ["webinar.attended"] = function(e)
    local minutes = tonumber(e.minutes) or 0
    if minutes >= 30 then return 20 end                            -- stayed for the substance
    if minutes > 0 then return 10 end
    return 0
  end,
  ["form.submitted"] = function(e)
    if e.form == "demo_request" or e.form == "contact_sales" then return 30 end
    if e.form == "trial" then return 25 end
    return 10                                                      -- white paper, survey, sign-up …
  end,
}

-- Fit points. Industries match anywhere in the text ("制造业", "Manufacturing
-- & Industrial"); titles match whole English words, so "Director" is not
-- a "CTO", and Chinese titles anywhere.
M.FIT_INDUSTRY = {
  { points = 15, words = { "manufactur", "industrial", "制造", "工业",
                           "software", "saas", "internet", "软件", "互联网", "科技" } },
  { points = 10, words = { "financ", "bank", "insurance", "金融", "银行", "保险",
                           "health", "medical", "pharma", "医疗", "医药" } },
}
M.FIT_INDUSTRY_OTHER = 3     -- an industry we know little about
M.FIT_TITLE = {
  { points = 20, words = { "ceo", "cmo", "cto", "cio", "coo", "cfo", "chief", "president",
                           "vp", "vice president", "founder", "owner",
                           "总裁", "总经理", "副总", "首席", "创始人", "董事" } },
  { points = 15, words = { "director", "head", "总监", "负责人" } },
  { points = 10, words = { "manager", "lead", "经理", "主管" } },
}
M.FIT_TITLE_OTHER = 3        -- specialists, assistants …
M.FIT_EMPLOYEES = {          -- custom field `employees`: a number, or text like "200-999"
  { min = 1000, points = 20 },
  { min = 200,  points = 15 },
  { min = 50,   points = 8 },
  { min = 1,    points = 3 },
}

-- English words are compared whole (lower case, split on anything that is
-- not a letter); other words (Chinese) anywhere in the text.
local function mentions(text, word, whole_words)
  local lower = string.lower(text)
  if whole_words and word:find("^[%a ]+$") then
    local spaced = " " .. (lower:gsub("%A+", " ")) .. " "
    return spaced:find(" " .. word .. " ", 1, true) ~= nil
  end
  return lower:find(word, 1, true) ~= nil
end

local function points_for(text, groups, other, whole_words)
  if not text or text == "" then return 0 end          -- unknown: no points
  for _, group in ipairs(groups) do
    for _, word in ipairs(group.words) do
      if mentions(text, word, whole_words) then return group.points end
    end
  end
  return other
end

function M.heat_points(event)
  local p = M.HEAT[event.type] or 0
  if type(p) == "function" then p = p(event) end
  return p
end

function M.fit_of(lead)
  local fit = points_for(lead:get("industry"), M.FIT_INDUSTRY, M.FIT_INDUSTRY_OTHER, false)
            + points_for(lead:get("title"), M.FIT_TITLE, M.FIT_TITLE_OTHER, true)
  local employees = tonumber(string.match(tostring(lead:get("employees") or ""), "%d+"))
  for _, band in ipairs(M.FIT_EMPLOYEES) do
    if employees and employees >= band.min then
      fit = fit + band.points
      break
    end
  end
  return fit
end

-- What every scoring rule does with its event.
function M.apply(lead, event)
  -- heat: decay what is there by the time since it last changed, then add
  -- the event's points as they are worth today: a visit two months old
  -- (an import of history, a late webhook) counts a quarter of a fresh one.
  local age = math.max(0, now() - (event.at or now()))
  local points = M.heat_points(event) * 0.5 ^ (age / M.HALF_LIFE_MS)
  local heat = lead:score("heat", points, { half_life = M.HALF_LIFE })

  -- fit: recompute from the profile. lead:score only adds, so add the
  -- difference. (half_life is passed here too: any score write restarts
  -- the heat's decay clock, and without it heat would not be decayed first.)
  local fit = M.fit_of(lead)
  local current = lead:score("fit")
  if fit ~= current then
    lead:score("fit", fit - current, { half_life = M.HALF_LIFE })
  end

  -- MQL: only leads still in nurture are promoted; an MQL, SQL or later
  -- stays where sales put it.
  local stage = lead:stage()
  if (stage == "Lead" or stage == "Recycled") and heat >= M.MQL_HEAT and fit >= M.MQL_FIT then
    local reason = string.format("score: heat %.1f >= %d and fit %d >= %d after %s",
                                 heat, M.MQL_HEAT, fit, M.MQL_FIT, event.type)
    local ok, err = lead:stage("MQL", reason)
    if not ok then log("scoring: could not make lead an MQL:", err) end
  end
  return heat, fit
end

return M
