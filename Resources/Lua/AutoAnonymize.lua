-- Orthanc Anonymizer: anonymize every study that Orthanc receives.
--
-- Name this file in Orthanc's configuration, beside the plugin:
--
--   "Plugins":    [ "/path/to/libOrthancAnonymizer.so" ],
--   "LuaScripts": [ "/path/to/AutoAnonymize.lua" ],
--   "StableAge":  60
--
-- When a study has received no new instance for "StableAge" seconds,
-- Orthanc calls OnStableStudy below, which starts the plugin's job
-- POST /anonymizer/studies/{id}/anonymize with the settings of this file.
-- The anonymized copy is stored into the same Orthanc, where it becomes
-- stable in turn: it is recognized and left alone (see IsAnonymized), so
-- nothing is anonymized twice and the script never loops.  With
-- STORE = false (and an EXPORT target) it starts POST /anonymizer/export
-- with "Anonymize" instead: each instance is anonymized on its way to the
-- target and nothing is stored in Orthanc.
--
-- StableStudy fires only in the Orthanc process that received the
-- instances.  Anonymizing a study again (new instances arrived after it
-- was stable) is harmless: with the same site secret the new instances
-- get the same UIDs and join the same anonymized study.
--
-- This script logs Orthanc identifiers (hashes) and job ids, never a DICOM
-- value.

---------------------------------------------------------------------------
-- Settings: edit them here, or keep this file as it is and list a second
-- script after it in "LuaScripts" that sets only what differs, e.g.
--   DELETE_ORIGINAL = true
--   PROFILE = 'Full'
-- (scripts run in order, so the later one wins).
---------------------------------------------------------------------------

-- The anonymization profile: the name of a built-in ("Default" for PET/NM,
-- "Full" for the Basic Profile with every option off) or of a custom
-- profile stored with PUT /anonymizer/profiles/{name}; or a Lua table
-- holding an inline profile, for instance:
--   PROFILE = { Base = 'Full', Dates = 'shift', Descriptions = 'keep' }
PROFILE = 'Default'

-- Priority of the anonymization job among Orthanc's jobs (higher runs
-- first).
PRIORITY = 0

-- New Patient Name / Patient ID of the anonymized study.  Empty: a
-- pseudonym derived from the original Patient ID with the site secret
-- (ANON^... / ANON...), the same for every study of one patient.  A fixed
-- value here would give every patient the same identity: leave them empty
-- unless this Orthanc receives one patient only.
NEW_PATIENT_NAME = ''
NEW_PATIENT_ID = ''

-- Export each anonymized study when its anonymization succeeds: nil (no
-- export) or a Target as in POST /anonymizer/export, for instance
--   EXPORT = { Type = 'destination', Name = 'lab-sftp' }
--   EXPORT = { Type = 'dicom', Modality = 'research-pacs' }
EXPORT = nil

-- Keep the anonymized copy in this Orthanc (true), or anonymize on the way
-- out (false): with STORE = false each instance of the study is read,
-- anonymized and sent straight to EXPORT by one job
-- (POST /anonymizer/export with "Anonymize"); nothing is stored in
-- Orthanc, the report is kept as for any anonymization.  STORE = false
-- needs EXPORT: without it the study is left alone (and the log says so).
STORE = true

-- Delete the original instances once their anonymization job has
-- succeeded with no failed instance.  Exactly the instances the study held
-- when the job was submitted are deleted (each of them was anonymized, or
-- dropped on purpose by the profile, e.g. secondary captures and reports
-- with "Default": those are lost with the original); an instance that
-- arrived later is kept, and anonymized (then deleted) when the study
-- becomes stable again.  A study whose job failed, or had a failed
-- instance, is kept whole.  With STORE = false the original is deleted
-- once every instance reached the target (the job succeeded with no
-- failed instance): the study is then in the target only.  The list of
-- jobs to wait for lives in memory:
-- after a restart of Orthanc, the originals of jobs started before it are
-- kept.
DELETE_ORIGINAL = false

-- Which studies to anonymize: return false to leave a study alone.
-- `tags` holds the study's main tags only (StudyDescription, StudyDate,
-- AccessionNumber, ...; no patient tags), `metadata` its Orthanc metadata
-- (ReceptionDate, LastUpdate, ...).  Studies that are themselves the
-- output of an anonymization are skipped before this is called.
function ShouldAnonymize(studyId, tags, metadata)
  return true
end

---------------------------------------------------------------------------
-- The script.
---------------------------------------------------------------------------

local LOG_PREFIX = 'AutoAnonymize: '

-- The study metadata the plugin writes on an anonymized study (the id of
-- its report), and the attribute every anonymized instance carries.
local METADATA_REPORT = '1025'
local TAG_IDENTITY_REMOVED = '0012-0062'   -- Patient Identity Removed

-- Anonymization jobs whose original instances are to be deleted:
-- job id -> { study = study id, instances = { instance id, ... } }.
local pendingDeletes = {}

local function Log(message)
  print(LOG_PREFIX .. message)
end

-- A code string without its padding (spaces, NULs).
local function Unpadded(s)
  return (string.gsub(s, '[%s%c]', ''))
end

-- Whether the study is the output of an anonymization, so that it must
-- not be anonymized again.  Returns true, false, or nil when it cannot
-- tell (the study vanished, or the REST API failed).
--
-- The plugin's study metadata "1025" is written when its job ends, so it
-- may be missing when the study becomes stable: the instances are looked
-- at too.  Every instance the anonymizer writes has Patient Identity
-- Removed (0012,0062) = YES; an instance that already had it (a study
-- de-identified elsewhere) is also left alone.  One instance is enough:
-- an anonymized study holds nothing else.  Only the list of attributes
-- present is read, then that one value: nothing else of the instance.
function IsAnonymized(studyId, metadata)
  if metadata ~= nil and metadata[METADATA_REPORT] ~= nil then
    return true
  end

  local answer = RestApiGet('/studies/' .. studyId .. '/instances', true)
  if answer == nil then
    return nil
  end
  local instances = ParseJson(answer)
  if instances == nil or instances[1] == nil or instances[1]['ID'] == nil then
    return nil
  end

  local instance = '/instances/' .. instances[1]['ID'] .. '/content'
  answer = RestApiGet(instance, true)
  if answer == nil then
    return nil
  end
  local present = false
  for _, tag in ipairs(ParseJson(answer) or {}) do
    if string.lower(tag) == TAG_IDENTITY_REMOVED then
      present = true
      break
    end
  end
  if not present then
    return false
  end

  answer = RestApiGet(instance .. '/' .. TAG_IDENTITY_REMOVED, true)
  if answer == nil then
    return nil
  end
  return string.upper(Unpadded(answer)) == 'YES'
end

-- The Orthanc IDs of the study's instances, or nil if they cannot be read.
local function InstanceIds(studyId)
  local answer = RestApiGet('/studies/' .. studyId .. '/instances', true)
  local instances = answer and ParseJson(answer)
  if type(instances) ~= 'table' then
    return nil
  end
  local ids = {}
  for _, instance in ipairs(instances) do
    if type(instance['ID']) ~= 'string' then
      return nil
    end
    table.insert(ids, instance['ID'])
  end
  return ids
end

-- The JSON body of the request.  DumpJson(value, true) keeps every string
-- a string (without `true`, a Patient ID "0012" would become the number
-- 12) but writes numbers as strings too, so Priority is added by hand.
-- The anonymization's settings (Profile, NewPatientName, NewPatientID)
-- added to `body`.
local function AddAnonymization(body)
  if type(PROFILE) == 'table' or (type(PROFILE) == 'string' and PROFILE ~= '') then
    body['Profile'] = PROFILE
  end
  if NEW_PATIENT_NAME ~= nil and NEW_PATIENT_NAME ~= '' then
    body['NewPatientName'] = tostring(NEW_PATIENT_NAME)
  end
  if NEW_PATIENT_ID ~= nil and NEW_PATIENT_ID ~= '' then
    body['NewPatientID'] = tostring(NEW_PATIENT_ID)
  end
  return body
end

local function WithPriority(body)
  local priority = math.floor(tonumber(PRIORITY) or 0)
  return string.format('{"Priority":%d,', priority) ..
    string.sub(DumpJson(body, true), 2)
end

-- POST /anonymizer/studies/{id}/anonymize: anonymize, store, export.
local function RequestBody()
  local body = AddAnonymization({ Asynchronous = true })
  if type(EXPORT) == 'table' then
    body['Export'] = { Target = EXPORT }
  end
  return WithPriority(body)
end

-- POST /anonymizer/export with "Anonymize" (STORE = false): the study
-- anonymized on its way to EXPORT.  "Force": false (the default) keeps
-- "Anonymize" an object in the JSON when no other setting is given (an
-- empty Lua table would be written as an array).
local function WayOutBody(studyId)
  local anonymize = AddAnonymization({ Force = false })
  return WithPriority({ Asynchronous = true, Resources = { studyId },
                        Anonymize = anonymize, Target = EXPORT })
end

function OnStableStudy(studyId, tags, metadata)
  local anonymized = IsAnonymized(studyId, metadata)
  if anonymized == nil then
    Log('study ' .. studyId .. ': cannot tell whether it is anonymized' ..
        ' (gone, or the REST API failed): left alone')
    return
  end
  if anonymized then
    return   -- our output (or de-identified elsewhere): never again
  end
  if not ShouldAnonymize(studyId, tags, metadata) then
    return
  end
  local wayOut = (STORE == false)
  if wayOut and type(EXPORT) ~= 'table' then
    Log('study ' .. studyId .. ': STORE = false needs an EXPORT target:' ..
        ' not anonymized')
    return
  end

  -- The instances to delete once the job has succeeded: those the study
  -- holds now, before the job exists.  The job lists the study's
  -- instances when it starts, later, so each of these is in its plan
  -- (unless deleted meanwhile); one that arrives after this line may be
  -- left out of the job, and is never deleted here.
  local snapshot = nil
  if DELETE_ORIGINAL then
    snapshot = InstanceIds(studyId)
    if snapshot == nil then
      Log('study ' .. studyId .. ': cannot list its instances: not' ..
          ' anonymized now (DELETE_ORIGINAL needs the list)')
      return
    end
  end

  local answer
  if wayOut then
    answer = RestApiPost('/anonymizer/export', WayOutBody(studyId), false)
  else
    answer = RestApiPost('/anonymizer/studies/' .. studyId .. '/anonymize',
                         RequestBody(), false)
  end
  if answer == nil then
    -- Orthanc's log has the HTTP error just before this line.
    Log('study ' .. studyId .. ': the anonymizer refused the job' ..
        ' (is the plugin loaded, the profile known' ..
        (wayOut and ', the EXPORT target right' or '') .. '?)')
    return
  end

  local job = ParseJson(answer)
  if job == nil or job['ID'] == nil then
    Log('study ' .. studyId .. ': unexpected answer from the anonymizer')
    return
  end
  if wayOut then
    -- A plugin older than "Anonymize" on /anonymizer/export would export
    -- the original as it is (an Export job): stop it at once.
    local started = RestApiGet('/jobs/' .. job['ID'], true)
    local info = started and ParseJson(started)
    if info == nil or info['Type'] ~= 'Anonymization' then
      RestApiPost('/jobs/' .. job['ID'] .. '/cancel', '{}', true)
      Log('study ' .. studyId .. ': job ' .. job['ID'] .. ' is not an' ..
          ' anonymization (a plugin without "Anonymize" on' ..
          ' /anonymizer/export?): cancelled; STORE = false needs a newer' ..
          ' plugin')
      return
    end
    Log('study ' .. studyId .. ': anonymization job ' .. job['ID'] ..
        ' on the way out (nothing stored in Orthanc)')
  else
    Log('study ' .. studyId .. ': anonymization job ' .. job['ID'])
  end
  if snapshot ~= nil then
    pendingDeletes[job['ID']] = { study = studyId, instances = snapshot }
  end
end

-- Every instance of the job was done (anonymized or dropped on purpose),
-- none failed, and every study of the job's content has an anonymized
-- copy: in Orthanc ("Anonymized"), or, on the way out ("Stored": false),
-- sent under its new Study Instance UID.
local function JobComplete(content)
  if content == nil or content['Studies'] == nil or
     (content['Failed'] ~= nil and content['Failed'][1] ~= nil) or
     (tonumber(content['FailedCount']) or 0) ~= 0 or
     tonumber(content['InstancesTotal']) == nil or
     tonumber(content['InstancesDone']) ~= tonumber(content['InstancesTotal']) then
    return false
  end
  local copy = 'Anonymized'
  if content['Stored'] == false then
    copy = 'NewStudyInstanceUID'
  end
  local count = 0
  for _, study in ipairs(content['Studies']) do
    if type(study[copy]) ~= 'string' or study[copy] == '' or
       (tonumber(study['Failed']) or 0) ~= 0 then
      return false
    end
    count = count + 1
  end
  return count > 0
end

function OnJobSuccess(jobId)
  local pending = pendingDeletes[jobId]
  if pending == nil then
    return   -- not one of ours, or DELETE_ORIGINAL is off
  end
  pendingDeletes[jobId] = nil
  local studyId = pending.study

  local answer = RestApiGet('/jobs/' .. jobId, true)
  local job = answer and ParseJson(answer)
  if job == nil or not JobComplete(job['Content']) then
    Log('job ' .. jobId .. ': not every instance was anonymized;' ..
        ' original study ' .. studyId .. ' kept')
    return
  end

  -- Only the instances listed before the job was submitted: each one was
  -- anonymized (or dropped on purpose) by this job.
  local deleted, failed = 0, 0
  for _, instanceId in ipairs(pending.instances) do
    if RestApiDelete('/instances/' .. instanceId, true) then
      deleted = deleted + 1
    else
      failed = failed + 1   -- deleted meanwhile, or the REST API failed
    end
  end
  local left = InstanceIds(studyId)
  if left == nil or left[1] == nil then
    Log('job ' .. jobId .. ': original study ' .. studyId .. ' deleted (' ..
        deleted .. ' instance(s))')
  else
    Log('job ' .. jobId .. ': ' .. deleted .. ' instance(s) of original' ..
        ' study ' .. studyId .. ' deleted; ' .. #left .. ' kept (they' ..
        ' arrived after the job was submitted, or could not be deleted)')
  end
  if failed > 0 then
    Log('job ' .. jobId .. ': ' .. failed .. ' instance(s) of original' ..
        ' study ' .. studyId .. ' not deleted (gone already, or the REST' ..
        ' API failed)')
  end
end

function OnJobFailure(jobId)
  local pending = pendingDeletes[jobId]
  if pending ~= nil then
    pendingDeletes[jobId] = nil
    Log('job ' .. jobId .. ' failed: original study ' .. pending.study ..
        ' kept')
  end
end
