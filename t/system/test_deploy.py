"""The systemd unit in examples/systemd/ is one systemd accepts, with the
hardening operators expect, and its ExecStartPre check passes with the
shipped lab config. (The Kubernetes example is checked in test_reload.py.)"""

import os
import shutil
import subprocess

import helpers as h

UNIT = os.path.join(h.EXAMPLES, "systemd", "moondns.service")


def unit_settings():
    settings = {}
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")) and "=" in line:
                key, value = line.split("=", 1)
                settings.setdefault(key, []).append(value)
    return settings


def test_systemd_verifies_the_unit(tmp_path):
    # systemd-analyze checks every key and that the commands exist; point
    # them at this build and give it the man page the unit documents.
    text = open(UNIT).read().replace("/usr/sbin/moondns", h.MOONDNS)
    unit = tmp_path / "moondns.service"
    unit.write_text(text)
    man8 = tmp_path / "man" / "man8"
    man8.mkdir(parents=True)
    shutil.copy(os.path.join(h.SRCDIR, "doc", "moondns.8"), man8)
    env = dict(os.environ, MANPATH=str(tmp_path / "man"))
    p = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 0 and not p.stderr.strip(), p.stdout + p.stderr


def test_unit_is_hardened_and_checks_before_start():
    s = unit_settings()
    assert s["ExecStartPre"][0].endswith("moondns check -c /etc/moondns/moondns.yaml")
    assert s["ExecStart"][0].endswith("moondns -c /etc/moondns/moondns.yaml")
    assert any("kill -HUP $MAINPID" in v for v in s["ExecReload"])
    assert s["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert s["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert s["NoNewPrivileges"] == ["yes"] and s["ProtectSystem"] == ["strict"]
    assert s.get("DynamicUser") == ["yes"] or "User" in s


def test_exec_start_pre_accepts_a_valid_config():
    p = subprocess.run([h.MOONDNS, "check", "-c", os.path.join(h.EXAMPLES, "lab.yaml")],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stdout + p.stderr
