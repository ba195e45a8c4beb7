#!/usr/bin/env bash
# Builds the Debian package, installs it on this machine, checks its files, user and units,
# runs the installed binary against the packaged paths (init, then demo in the background
# with status, /metrics and a backup of it while it runs), then removes (data kept) and
# purges it (data and user gone). Needs root (or sudo) and Debian/Ubuntu. Run by .ci/run
# after the release build; takes well under a minute once cargo-deb is installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
# The installed binary must see only the package's configuration: attach refuses ATTACH_*
# variables it does not know (CI exports ATTACH_REQUIRE_BROWSER for the browser tests).
for v in $(compgen -e | grep '^ATTACH_' || true); do unset "$v"; done

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
step() { echo "== deb: $*"; }
fail() { echo "deb.sh: FAILED: $*" >&2; exit 1; }
started=$(date +%s)

step "tools (cargo-deb from crates.io, systemd-analyze and curl from apt) if missing"
if ! command -v systemd-analyze >/dev/null || ! command -v curl >/dev/null; then
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends systemd curl
fi
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install cargo-deb --locked
fi

step "build"
cargo build --release --locked -p attach
rm -rf packaging/man
"$target/release/attach" man packaging/man
gzip -9n packaging/man/*.1
rm -f "$target"/debian/attach_*.deb
cargo deb -p attach --no-build --locked
deb=$(ls "$target"/debian/attach_*.deb)
version=$(dpkg-deb -f "$deb" Version)
arch=$(dpkg-deb -f "$deb" Architecture)
[ "$(basename "$deb")" = "attach_${version}_${arch}.deb" ] || fail "unexpected name $deb"
ls -l "$deb"

step "install"
if dpkg -s attach >/dev/null 2>&1; then $SUDO dpkg -P attach; fi
$SUDO rm -rf /var/lib/attach /etc/attach
install_log=$($SUDO dpkg -i "$deb")
echo "$install_log"
grep -q "Nothing is running yet" <<<"$install_log" || fail "postinst did not print the next step"

step "files, user, units"
for f in /usr/bin/attach /etc/attach/attach.toml /usr/share/man/man1/attach.1.gz \
    /usr/share/man/man1/attach-backup.1.gz /lib/systemd/system/attach-node.service \
    /lib/systemd/system/attach-hub.service /lib/systemd/system/attach-backup.service \
    /lib/systemd/system/attach-backup.timer /lib/systemd/system/attach-hub-backup.service \
    /lib/systemd/system/attach-hub-backup.timer; do
    [ -e "$f" ] || fail "$f not installed"
done
dpkg-query -W -f='${Conffiles}\n' attach | grep -q /etc/attach/attach.toml \
    || fail "/etc/attach/attach.toml is not a conffile"
/usr/bin/attach --version
getent passwd attach | grep -q ':/usr/sbin/nologin$' || fail "no attach system user"
[ "$(id -u attach)" -lt 1000 ] || fail "attach is not a system user"
[ "$(stat -c %U:%a /var/lib/attach)" = "attach:700" ] || fail "/var/lib/attach: $(stat -c %U:%a /var/lib/attach)"
if ls /etc/systemd/system/*.wants/attach* >/dev/null 2>&1; then fail "installing enabled a unit"; fi
# verify checks syntax, that the ExecStart binaries exist, and the hardening directives;
# it works without systemd as PID 1 (containers).
# With man installed it also checks that every Documentation= page exists.
man_check="--man=yes"
if ! command -v man >/dev/null; then man_check="--man=no"; fi
$SUDO systemd-analyze verify "$man_check" /lib/systemd/system/attach-*.service \
    /lib/systemd/system/attach-*.timer
grep -q '^ProtectSystem=strict' /lib/systemd/system/attach-node.service || fail "node unit not hardened"
grep -q '^StateDirectory=attach attach/node' /lib/systemd/system/attach-node.service || fail "no StateDirectory"

step "attach init against the packaged paths (as root: the files go to the attach user)"
init_log=$($SUDO attach init --clinic-name "Package Test Clinic" --facility-number 99001 \
    --director-username director --director-name "Pat Director" 2>/dev/null)
echo "$init_log"
grep -q "systemctl enable --now attach-node" <<<"$init_log" || fail "init did not print the next step"
[ "$(stat -c %U:%a /var/lib/attach/node)" = "attach:700" ] || fail "/var/lib/attach/node: $(stat -c %U:%a /var/lib/attach/node)"
[ "$($SUDO cat /var/lib/attach/node/format)" = "2" ] || fail "no data format marker"
[ -z "$($SUDO find /var/lib/attach/node ! -user attach)" ] || fail "files not owned by attach"

step "attach demo as the service user, in the background"
port=$(( 20000 + RANDOM % 20000 ))
$SUDO runuser -u attach -- attach demo --data-dir /var/lib/attach/demo --patients 200 \
    --listen "127.0.0.1:$port" >/tmp/attach-deb-demo.log 2>&1 &
demo=$!
for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$demo" 2>/dev/null; then cat /tmp/attach-deb-demo.log; fail "demo exited"; fi
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/healthz" | grep -q '"ok"' || fail "demo does not answer"
curl -fsS "http://127.0.0.1:$port/" >/dev/null || fail "no web UI"
status=$($SUDO attach status --data-dir /var/lib/attach/demo 2>/dev/null)
echo "$status"
grep -q "running" <<<"$status" || fail "status does not see the demo"
admin="http://$($SUDO cat /var/lib/attach/demo/admin/address)"
token=$($SUDO cat /var/lib/attach/demo/admin/token)
[ "$(curl -s -o /dev/null -w '%{http_code}' "$admin/metrics")" = 401 ] || fail "/metrics without a token"
curl -fsS -H "authorization: Bearer $token" "$admin/metrics" | grep -q '^attach_panel_entries 200$' \
    || fail "/metrics"
backup_log=$($SUDO attach backup --data-dir /var/lib/attach/demo --out /tmp/attach-deb-demo.attach-backup 2>/dev/null)
echo "$backup_log"
grep -q "from the running node" <<<"$backup_log" || fail "backup of the running demo"
$SUDO kill -TERM "$demo"
wait "$demo" || true
digest=$($SUDO attach inspect digest --data-dir /var/lib/attach/demo 2>/dev/null)
$SUDO rm -rf /tmp/attach-deb-restore
restored=$($SUDO attach restore /tmp/attach-deb-demo.attach-backup --data-dir /tmp/attach-deb-restore 2>/dev/null | grep '^clinic ')
[ "$digest" = "$restored" ] || fail "restored digest differs: $digest vs $restored"
$SUDO rm -rf /tmp/attach-deb-restore /tmp/attach-deb-demo.attach-backup

if [ -d /run/systemd/system ]; then
    step "the node as a systemd service"
    $SUDO systemctl start attach-node
    for _ in $(seq 1 100); do
        if curl -fsS http://127.0.0.1:8080/healthz >/dev/null 2>&1; then break; fi
        sleep 0.2
    done
    curl -fsS http://127.0.0.1:8080/healthz | grep -q '"ok"' || { $SUDO journalctl -u attach-node --no-pager | tail -20; fail "service does not answer"; }
    $SUDO systemctl start attach-backup.service
    ls /var/lib/attach/backups/node/attach-node-*.attach-backup >/dev/null || fail "backup service wrote nothing"
    $SUDO systemctl stop attach-node
else
    step "systemd is not PID 1 here: the units were verified, not started"
fi

step "remove keeps the data and the user"
$SUDO dpkg -r attach
[ ! -e /usr/bin/attach ] || fail "binary left after remove"
[ -d /var/lib/attach/node/docs ] || fail "remove deleted the data"
getent passwd attach >/dev/null || fail "remove deleted the user"

step "purge deletes data, configuration and user, without asking"
$SUDO dpkg -P attach </dev/null
[ ! -e /var/lib/attach ] || fail "purge left /var/lib/attach"
[ ! -e /etc/attach ] || fail "purge left /etc/attach"
if getent passwd attach >/dev/null; then fail "purge left the attach user"; fi
if getent group attach >/dev/null; then fail "purge left the attach group"; fi

echo "deb.sh: OK in $(( $(date +%s) - started )) s ($(basename "$deb"), $(stat -c %s "$deb") bytes)"
