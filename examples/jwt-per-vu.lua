-- jwt-per-vu.lua: every VU signs up as its own user and keeps its own token.
--
-- A global assigned inside default() belongs to the VU that assigned it (top-level
-- locals, by contrast, are shared by the VUs of a worker). So `token` below is
-- per VU: each VU registers a unique user and logs in on its first iteration
-- only, then reuses its JWT, refreshing it shortly before it expires.
--
--   salvo serve &
--   salvo run examples/jwt-per-vu.lua -e BASE=http://127.0.0.1:8080

local http = require("salvo.http")
local salvo = require("salvo")
local uuid = require("salvo.uuid")
local encoding = require("salvo.encoding")

local BASE = salvo.env.BASE or "http://127.0.0.1:8080"

options = {
    vus = 10,
    duration = "10s",
}

-- The claims of a JWT, read without verifying it: only the server knows the key.
local function claims(jwt)
    local payload = jwt:match("^[^.]+%.([^.]+)%.")
    return salvo.json.decode(encoding.b64decode(payload, "url"))
end

local function login()
    local res = http.post(BASE .. "/auth/login", nil, {
        json = { username = username, password = password },
    })
    salvo.check(res, {
        ["logged in"] = function(r) return r.status == 200 end,
        ["token is for me"] = function(r) return claims(r:json("token")).sub == username end,
    })
    token = res:json("token")
    expires = claims(token).exp
end

-- username, password, token and expires are globals assigned by the VU: each VU
-- has its own.
function default()
    if not token then
        -- First iteration of this VU: a unique name, even across runs against the
        -- same target (the VU id alone would clash with the previous run's users).
        username = string.format("vu%d-%s", salvo.vu.id, uuid.v4())
        password = uuid.v4()
        local res = http.post(BASE .. "/auth/register", nil, {
            json = { username = username, password = password },
        })
        salvo.check(res, { ["registered"] = function(r) return r.status == 201 end })
        login()
    elseif os.time() > expires - 60 then
        login()
    end

    local me = http.get(BASE .. "/users/me", {
        headers = { Authorization = "Bearer " .. token },
    })
    salvo.check(me, {
        ["me is 200"] = function(r) return r.status == 200 end,
        ["me is my user"] = function(r) return r:json("username") == username end,
    })
    salvo.sleep(0.5)
end
