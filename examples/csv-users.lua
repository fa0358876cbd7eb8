-- csv-users.lua: test accounts from a CSV file, one per VU.
--
-- salvo.data.csv() parses the file once for the whole test; every VU reads the
-- same rows without a copy of its own. VU n takes row n (wrapping around when
-- there are more VUs than rows), signs that user up on its first iteration, then
-- logs in and reads its profile every iteration.
--
--   salvo serve &
--   salvo run examples/csv-users.lua -e BASE=http://127.0.0.1:8080

local http = require("salvo.http")
local salvo = require("salvo")
local data = require("salvo.data")

local BASE = salvo.env.BASE or "http://127.0.0.1:8080"

-- Relative to this script's folder; the first line names the columns.
local users = data.csv("data/users.csv", { header = true })

options = {
    vus = 5,
    duration = "10s",
}

function default()
    -- #users and users[i] work as on a table; the fields are the header's names.
    local user = users[(salvo.vu.id - 1) % #users + 1]
    local credentials = { username = user.username, password = user.password }

    if not registered then -- a per-VU global: nil on the VU's first iteration
        -- 409: a previous run against this target signed the user up already.
        local res = http.post(BASE .. "/auth/register", nil, {
            json = credentials,
            expected_statuses = { 201, 409 },
        })
        salvo.check(res, {
            ["signed up"] = function(r) return r.status == 201 or r.status == 409 end,
        })
        registered = true
    end

    local login = http.post(BASE .. "/auth/login", nil, { json = credentials })
    salvo.check(login, {
        ["logged in"] = function(r) return r.status == 200 end,
        ["got a token"] = function(r) return r.status == 200 and r:json("token") ~= nil end,
    })
    if login.status ~= 200 then
        return -- nothing more to do for this user this time
    end

    local me = http.get(BASE .. "/users/me", {
        headers = { Authorization = "Bearer " .. login:json("token") },
    })
    salvo.check(me, {
        ["profile is mine"] = function(r) return r:json("username") == user.username end,
    })
    salvo.sleep(0.5)
end
