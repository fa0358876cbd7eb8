-- https.lua: load over HTTPS, with the server's certificate checked.
--
-- salvo checks the certificate as a browser does: signed by a CA the system trusts,
-- valid today, and issued for the host in the URL. A test server often has a
-- certificate from a private CA: trust that CA's PEM file with --cacert rather than
-- switching the check off.
--
--   salvo run examples/https.lua -e BASE=https://staging.example:8443 --cacert ca.pem
--
-- (--insecure, or -k, skips the check: fine for a quick try against a self-signed
-- certificate, but the load is then not quite what your users get.)
--
-- A failed handshake is a failed request with k6's error code, e.g. 1310
-- "x509: unknown authority" or 1311 "x509: certificate doesn't match hostname",
-- listed under "errors" in the summary.

local http = require("salvo.http")
local salvo = require("salvo")

-- The target comes from the command line (-e BASE=...), so one script serves
-- every environment.
local BASE = salvo.env.BASE or "https://localhost:8443"

options = {
    vus = 2,
    duration = "3s",

    -- The default, spelled out: verify the certificate.
    insecureSkipTLSVerify = false,

    -- Refuse anything older than TLS 1.2 (k6's names: tls1.0 ... tls1.3). A plain
    -- string, tlsVersion = "tls1.3", allows that version only.
    tlsVersion = { min = "tls1.2" },
}

function default()
    local res = http.get(BASE .. "/hello")

    salvo.check(res, {
        ["status is 200"] = function(r) return r.status == 200 end,
        -- r.tls_version is "" for plain HTTP and for a failed handshake.
        ["TLS 1.2 or newer"] = function(r)
            return r.tls_version == "tls1.2" or r.tls_version == "tls1.3"
        end,
    })

    -- Keep-alive means one handshake per VU, not per request; the summary's
    -- http_req_tls_handshaking row shows what the handshakes cost.
    salvo.sleep(0.5)
end
