/**
 * The go-live made to last: the service address and the host name written where the host's own
 * configuration keeps them, so that a reboot of either host brings back what the last phase set,
 * not what the host had before it. The network stack is recognised per host (netplan, then
 * NetworkManager, systemd-networkd, ifupdown); the taking host gets the address in a file of
 * cutover's own (ifupdown, networkd, netplan) or its connection (NetworkManager); the releasing host's
 * own lines for the address are commented out with a marker, so that taking the address back
 * (rollback) uncomments exactly them: the host's files as they were. The kernel host name goes to
 * /etc/hostname and the host's own name line in /etc/hosts, replacing the name it replaces, and
 * cloud-init is told to keep it.
 *
 * Files are rewritten in place (`cat tmp > file`), never renamed over: a file that is a mount
 * point (a container's /etc/hostname, the lab's per-host files) takes no rename.
 */

/** The network stacks cutover can write an address into; "unknown": none recognised, the go-live is refused. */
export type NetworkStack = "netplan" | "networkmanager" | "networkd" | "ifupdown" | "unknown";

export interface PersistedIdentity {
  stack: NetworkStack;
  /** What the stack's detection saw, for a refusal or a drift line ("ifupdown: /etc/network/interfaces"). */
  detail: string;
  /** Whether the host's configuration brings the service address up at boot. */
  address: boolean;
  /** /etc/hostname's name ("" when the file is missing). */
  hostnameFile: string;
  /** Why the host's own lines for the address cannot be taken out for a release, when they cannot. */
  problem?: string;
}

/** The prefix a released host's own lines for the address get; taking the address back removes exactly it. */
export const RELEASED_MARK = "#cutover-released# ";

/** cutover's own files for the address, per stack. */
export const ADDRESS_FILES = {
  ifupdown: "/etc/network/interfaces.d/cutover-gateway",
  networkd: "cutover-gateway.conf",
  netplan: "/etc/netplan/90-cutover-gateway.yaml",
} as const;

/**
 * One POSIX shell script for every question and change, run as `sh -c SCRIPT sh OP DEV ADDRESS
 * PREFIX`: OP is `read` (prints stack=, detail=, address=yes|no, hostname=), `persist` (the address
 * comes up at boot) or `release` (it no longer does). Arguments arrive as positional parameters,
 * never in the script's text.
 */
export const PERSISTENCE_SCRIPT = String.raw`
op=$1 dev=$2 addr=$3 plen=$4
M='${RELEASED_MARK}'
IFD=${ADDRESS_FILES.ifupdown} NPF=${ADDRESS_FILES.netplan} NDC=${ADDRESS_FILES.networkd}
inplace() { f=$1; shift; "$@" < "$f" > "$f.cutover-tmp" && cat "$f.cutover-tmp" > "$f"; rc=$?; rm -f "$f.cutover-tmp"; return $rc; }
unmark() { for f in "$@"; do [ -f "$f" ] && grep -q "^$M" "$f" && inplace "$f" sed "s/^$M//"; done; return 0; }
marked() { for f in "$@"; do [ -f "$f" ] && grep -q "^$M" "$f" && return 0; done; return 1; }
ifupdown_files() { ls /etc/network/interfaces /etc/network/interfaces.d/* 2>/dev/null | grep -vx "$IFD"; }
netplan_files() { ls /etc/netplan/*.yaml /etc/netplan/*.yml 2>/dev/null | grep -vx "$NPF"; }
networkd_files() { ls /etc/systemd/network/*.network /etc/systemd/network/*.network.d/*.conf 2>/dev/null | grep -v "/$NDC$"; }
nm_connection() { nmcli -g GENERAL.CONNECTION device show "$dev" 2>/dev/null | head -n1; }
networkd_file() { networkctl status "$dev" 2>/dev/null | sed -n 's/^ *Network File: \(\/.*\)$/\1/p' | head -n1; }
stack=unknown detail=
if [ -n "$(netplan_files)" ] && command -v netplan >/dev/null 2>&1; then stack=netplan detail="netplan: $(netplan_files | tr '\n' ' ')"
elif command -v nmcli >/dev/null 2>&1 && [ -n "$(nm_connection)" ]; then stack=networkmanager detail="NetworkManager: connection $(nm_connection)"
elif command -v networkctl >/dev/null 2>&1 && [ -n "$(networkd_file)" ]; then stack=networkd detail="systemd-networkd: $(networkd_file)"
elif [ -f /etc/network/interfaces ] && command -v ifup >/dev/null 2>&1; then
  if grep -Eq '^[[:space:]]*source(-directory)?[[:space:]]+/etc/network/interfaces\.d' /etc/network/interfaces; then stack=ifupdown detail="ifupdown: /etc/network/interfaces"
  else stack=unknown detail="ifupdown, but /etc/network/interfaces does not read /etc/network/interfaces.d (add: source /etc/network/interfaces.d/*)"; fi
else detail="no netplan, NetworkManager, systemd-networkd or ifupdown configuration for $dev"; fi
ifupdown_has() { for f in $(ifupdown_files) $IFD; do [ -f "$f" ] && awk -v a="$addr" '$1 == "address" && ($2 == a || index($2, a "/") == 1) { f = 1 } ($1 == "up" || $1 == "post-up") && index($0, " " a "/") { f = 1 } END { exit !f }' "$f" && return 0; done; return 1; }
has() {
  case $stack in
    ifupdown) ifupdown_has ;;
    networkd) grep -Eqs "^Address=$addr(/|$)" $(networkd_files) "/etc/systemd/network/$(basename "$(networkd_file)").d/$NDC" ;;
    netplan) grep -Eqs "^[^#]*[-[ ,]['\"]?$addr/$plen['\"]?([] ,]|$)" $(netplan_files) $NPF ;;
    networkmanager) nmcli -g ipv4.addresses connection show "$(nm_connection)" 2>/dev/null | tr ',' '\n' | grep -q "^ *$addr/" ;;
    *) return 1 ;;
  esac
}
case $op in
read)
  echo "stack=$stack"; echo "detail=$detail"
  if has; then echo address=yes; else echo address=no; fi
  echo "hostname=$(head -n1 /etc/hostname 2>/dev/null)"
  if [ "$stack" = ifupdown ]; then for f in $(ifupdown_files); do awk -v a="$addr" -v f="$f" '
    function check() { if (hit && extra != "") printf "problem=%s: the stanza that configures %s also sets%s, which commenting it out for the release would take from the host at its next boot; move those to the stanza of the host'"'"'s own address\n", f, a, extra; hit = 0; extra = "" }
    /^[[:space:]]*(iface|mapping|auto|allow-[^[:space:]]+|source|source-directory|rename)([[:space:]]|$)/ { check(); inside = ($1 == "iface"); next }
    inside && $1 == "address" && ($2 == a || index($2, a "/") == 1) { hit = 1; next }
    inside && $1 !~ /^(address|netmask|broadcast|network|label|scope|#.*)$/ && NF && !(($1 == "up" || $1 == "post-up" || $1 == "down" || $1 == "pre-down") && index($0, " " a "/")) { extra = extra " " $1 }
    END { check() }' "$f"; done; fi ;;
persist)
  has && exit 0
  case $stack in
    ifupdown) if marked $(ifupdown_files); then unmark $(ifupdown_files); else mkdir -p /etc/network/interfaces.d && printf '# Written by cutover: the gateway service address, held by this host since its go-live.\niface %s inet static\n    address %s/%s\n' "$dev" "$addr" "$plen" > "$IFD"; fi ;;
    networkd) if marked $(networkd_files); then unmark $(networkd_files); else d="/etc/systemd/network/$(basename "$(networkd_file)").d"; mkdir -p "$d" && printf '# Written by cutover: the gateway service address, held by this host since its go-live.\n[Network]\nAddress=%s/%s\n' "$addr" "$plen" > "$d/$NDC"; fi ;;
    netplan) if marked $(netplan_files); then unmark $(netplan_files); else printf '# Written by cutover: the gateway service address, held by this host since its go-live.\nnetwork:\n  version: 2\n  ethernets:\n    %s:\n      addresses: ["%s/%s"]\n' "$dev" "$addr" "$plen" > "$NPF" && chmod 600 "$NPF"; fi; netplan generate ;;
    networkmanager) nmcli connection modify "$(nm_connection)" +ipv4.addresses "$addr/$plen" ;;
    *) echo "$detail" >&2; exit 3 ;;
  esac ;;
release)
  case $stack in
    ifupdown)
      rm -f "$IFD"
      for f in $(ifupdown_files); do
        inplace "$f" awk -v a="$addr" -v m="$M" '
          function flush(  i) { for (i = 1; i <= n; i++) print (hit && index(buf[i], m) != 1 ? m buf[i] : buf[i]); n = 0; hit = 0 }
          /^[[:space:]]*(iface|mapping|auto|allow-[^[:space:]]+|source|source-directory|rename)([[:space:]]|$)/ { flush(); if ($1 == "iface") { buf[++n] = $0; inside = 1; next } inside = 0; print; next }
          inside { buf[++n] = $0; if ($1 == "address" && ($2 == a || index($2, a "/") == 1)) hit = 1; else if (($1 == "up" || $1 == "post-up") && index($0, " " a "/")) buf[n] = m $0; next }
          { print }
          END { flush() }' || exit 1
      done ;;
    networkd)
      rm -f "/etc/systemd/network/$(basename "$(networkd_file)").d/$NDC"
      for f in $(networkd_files); do grep -Eq "^Address=$addr(/|$)" "$f" && { inplace "$f" sed -E "s|^(Address=$addr(/[0-9]+)?)$|$M\1|" || exit 1; }; done ;;
    netplan)
      rm -f "$NPF"
      for f in $(netplan_files); do grep -Eq "^[[:space:]]*-[[:space:]]*['\"]?$addr/$plen['\"]?[[:space:]]*$" "$f" && { inplace "$f" sed -E "s|^([[:space:]]*-[[:space:]]*['\"]?$addr/$plen['\"]?[[:space:]]*)$|$M\1|" || exit 1; }; done
      if has; then echo "netplan: $addr/$plen is in a list cutover cannot take it out of (write it one per line: - $addr/$plen)" >&2; exit 3; fi
      netplan generate ;;
    networkmanager) while has; do nmcli connection modify "$(nm_connection)" -ipv4.addresses "$addr/$plen" || exit 1; done ;;
    *) exit 0 ;;
  esac ;;
esac
`;

/** The command for OP on a host's network configuration (see PERSISTENCE_SCRIPT). Pure. */
export const persistenceCommand = (op: "read" | "persist" | "release", dev: string, address: string, prefixLength: number): string[] => [
  "sh",
  "-c",
  PERSISTENCE_SCRIPT,
  "sh",
  op,
  dev,
  address,
  String(prefixLength),
];

/** The read's answer, from its lines. Pure. */
export function parsePersisted(text: string): PersistedIdentity {
  const field = (k: string) => new RegExp(`^${k}=(.*)$`, "m").exec(text)?.[1]?.trim() ?? "";
  const stack = field("stack") as NetworkStack;
  return {
    stack: ["netplan", "networkmanager", "networkd", "ifupdown"].includes(stack) ? stack : "unknown",
    detail: field("detail"),
    address: field("address") === "yes",
    hostnameFile: field("hostname"),
    ...(field("problem") ? { problem: field("problem") } : {}),
  };
}

/**
 * Writes name $2 where the host keeps its name for the next boot, in place of $1: /etc/hostname,
 * the tokens $1 and its first label on /etc/hosts' lines that carry it (Debian's 127.0.1.1 line),
 * and cloud-init's preserve_hostname (so an instance keeps it). Run as `sh -c ... sh OLD NEW`.
 */
export const HOSTNAME_SCRIPT = String.raw`
old=$1 new=$2
printf '%s\n' "$new" > /etc/hostname || exit 1
if [ -f /etc/hosts ] && [ -n "$old" ] && awk -v o="$old" '{ for (i = 2; i <= NF; i++) if ($i == o) f = 1 } END { exit !f }' /etc/hosts; then
  awk -v o="$old" -v n="$new" -v os="${"$"}{old%%.*}" -v ns="${"$"}{new%%.*}" 'substr($1, 1, 1) != "#" { for (i = 2; i <= NF; i++) if ($i == o) $i = n; else if ($i == os && os != o) $i = ns } { print }' /etc/hosts > /etc/hosts.cutover-tmp && cat /etc/hosts.cutover-tmp > /etc/hosts
  rm -f /etc/hosts.cutover-tmp
fi
if [ -d /etc/cloud/cloud.cfg.d ]; then printf '# Written by cutover: the host name is the go-live'"'"'s, kept across reboots.\npreserve_hostname: true\n' > /etc/cloud/cloud.cfg.d/99-cutover-hostname.cfg; fi
`;

/** The command that makes `name` the host's name at its next boot, replacing `old`. Pure. */
export const persistHostNameCommand = (old: string, name: string): string[] => ["sh", "-c", HOSTNAME_SCRIPT, "sh", old, name];
