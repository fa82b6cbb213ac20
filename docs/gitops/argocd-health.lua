-- Argo CD health check for asr.autoupdate.dev/MobilityUpdatePolicy.
-- argocd-cm key: resource.customizations.health.asr.autoupdate.dev_MobilityUpdatePolicy
-- Uses only Lua 5.1 base functions (no useOpenLibs needed). docs/gitops.md embeds this file, and
-- tests/docs/test_gitops.py runs it against statuses the operator writes.
local hs = { status = "Progressing", message = "Waiting for the operator to write status" }

local function find(conditions, kind)
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c)
  return tostring(c.reason) .. ": " .. tostring(c.message)
end

if obj.status == nil or obj.status.conditions == nil then
  return hs
end

local generation = obj.metadata.generation or 0
local observed = obj.status.observedGeneration or 0
if observed < generation then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local conditions = obj.status.conditions
local reconciling = find(conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = describe(reconciling)
  return hs
end

local stalled = find(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end

local ready = find(conditions, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end
if ready ~= nil then
  hs.message = describe(ready)
end
return hs
