"""libvirt's QEMU domains, and the Nova instances among them, from libvirt's runtime XML.

While a domain runs, libvirtd keeps its live definition in `/run/libvirt/qemu/<domain>.xml`: a
`<domstatus pid=QEMU-PID>` root wrapping the `<domain>` as started, with every interface's tap name in
`<target dev=...>` (libvirt fills in the `vnetN` it chose when none was asked). That file is the exact
answer to "which VM is on this tap?", with nothing to connect to and no credentials: the tap is
looked up by that name in the namespace the qemu process lives in (the root one when the process is not
in the picture), never a same-name device elsewhere. A stopped domain has no runtime file and no
devices, so /etc/libvirt/qemu (the persistent definitions) is not read.

Nova writes its own `<metadata><nova:instance>` (namespace http://openstack.org/xmlns/libvirt/nova/1.x:
1.0, 1.1 and 1.2 are the versions Nova has written): the display name the operator knows (the owner's
`name`; the libvirt name `instance-0000002a` stays in `details.domain`), the flavor, project, user
and the Neutron ports. Each port becomes a `neutron-port` owner with its whole uuid, exact, whose
parent is the VM and whose device is the VM's tap carrying the uuid's first 11 characters, so it joins
the name-pattern entry `neutron_names` makes of `tap1ec9dbb7-e7` (`enrich.merge_owners`).

Cost: a file is parsed again only when its (inode, mtime, size) changed; an inotify watch on the
directory (`fileno`) tells the live loop a domain started or stopped. A file that cannot be read or parsed, or
that lacks the qemu pid, costs that domain's owner and one error naming the file; the rest is intact.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vnettop.collect.sources import Enrichment, scope
from vnettop.linux.inotify import LazyDirWatch
from vnettop.model import CollectError, Link, LinkKey, Owner, Snapshot

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

NAME = "libvirt"
STATE_DIR = "run/libvirt/qemu"
#: A runtime XML is a few tens of kB (qemu's capability flags make most of it); more is not libvirt's.
MAX_BYTES = 4 << 20
NOVA_NS = re.compile(r"^http://openstack\.org/xmlns/libvirt/nova/1\.[0-9]+$")
#: Length of the uuid prefix a Nova tap name carries (`tap1ec9dbb7-e7`).
PORT_PREFIX = 11


class BadFile(Exception):
    """A runtime XML this reader cannot use; the message says why in a few words."""


@dataclass(frozen=True, slots=True)
class Nic:
    dev: str | None
    mac: str | None


@dataclass(frozen=True, slots=True)
class Domain:
    """What one runtime XML says, before it is joined to the kernel picture."""

    name: str
    uuid: str | None
    pid: int
    nics: tuple[Nic, ...]
    nova: tuple[tuple[str, str], ...]  # display name, flavor, project, user (present ones)
    ports: tuple[str, ...]  # Nova's port uuids


def _local(tag: str) -> tuple[str, str]:
    """(namespace uri, local name) of an ElementTree tag."""
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return uri, local
    return "", tag


def _nova(domain: ET.Element) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    meta = domain.find("metadata")
    if meta is None:
        return (), ()
    for inst in meta:
        uri, local = _local(inst.tag)
        if local == "instance" and NOVA_NS.match(uri):
            break
    else:
        return (), ()
    ns = "{" + uri + "}"
    facts: dict[str, str] = {}
    display = (inst.findtext(ns + "name") or "").strip()
    if display:
        facts["display_name"] = display
    flavor = inst.find(ns + "flavor")
    if flavor is not None and flavor.get("name"):
        facts["flavor"] = str(flavor.get("name"))
    for role in ("project", "user"):
        who = inst.find(f"{ns}owner/{ns}{role}")
        if who is not None:
            text = (who.text or "").strip() or who.get("uuid") or ""
            if text:
                facts[role] = text
    ports = tuple(str(p.get("uuid")) for p in inst.findall(f"{ns}ports/{ns}port") if p.get("uuid"))
    return tuple(sorted(facts.items())), ports


def parse(text: bytes) -> Domain:
    """The domain a runtime XML describes (raises BadFile, or ET.ParseError for broken XML)."""
    import xml.etree.ElementTree as ET  # only on a host with VMs: ~3 ms of every dump's start otherwise

    top = ET.fromstring(text)
    if top.tag != "domstatus":
        raise BadFile(f"not a runtime XML (root <{top.tag}>, not <domstatus>)")
    pid_text = top.get("pid")
    if not pid_text or not pid_text.isdigit() or int(pid_text) <= 0:
        raise BadFile("no qemu pid (the <domstatus pid> attribute)" if not pid_text
                      else f"bad qemu pid {pid_text!r}")
    domain = top.find("domain")
    if domain is None:
        raise BadFile("no <domain> inside <domstatus>")
    name = (domain.findtext("name") or "").strip()
    if not name:
        raise BadFile("the domain has no <name>")
    nics = []
    for iface in domain.findall("devices/interface"):
        target, mac = iface.find("target"), iface.find("mac")
        nics.append(Nic(target.get("dev") if target is not None else None,
                        mac.get("address") if mac is not None else None))
    nova, ports = _nova(domain)
    uuid = (domain.findtext("uuid") or "").strip().lower() or None
    return Domain(name, uuid, int(pid_text), tuple(nics), nova, ports)


def _where(base: Snapshot) -> tuple[dict[int, int], int | None, dict[tuple[int, str], Link]]:
    """pid -> namespace inode, the root namespace, (namespace, device name) -> device."""
    ns_of = {pid: ns.inode for ns in base.namespaces for pid in ns.pids}
    root = base.root
    by_name = {(link.netns, link.name): link for link in base.links}
    return ns_of, root.inode if root is not None else None, by_name


def owners_of(dom: Domain, source: str, base: Snapshot,
              where: tuple[dict[int, int], int | None, dict[tuple[int, str], Link]]) -> list[Owner]:
    """The VM (first) and its Nova ports, joined to `base`: each tap by name in the qemu's namespace."""
    ns_of, root, by_name = where
    home = ns_of.get(dom.pid, root)
    found: list[tuple[str, LinkKey]] = []  # (tap name, its device) of each interface found
    for nic in dom.nics:
        link = by_name.get((home, nic.dev)) if nic.dev and home is not None else None
        if link is not None:
            found.append((link.name, link.key))
    links = [key for _name, key in found]
    nova = dict(dom.nova)
    details = {"domain": dom.name, **{k: v for k, v in nova.items() if k != "display_name"}}
    macs = [nic.mac for nic in dom.nics if nic.mac]
    if macs:
        details["mac"] = ", ".join(macs)
    taps = [nic.dev for nic in dom.nics if nic.dev]
    if taps:
        details["taps"] = ", ".join(taps)
    if dom.ports:
        details["ports"] = ", ".join(dom.ports)
    vm = Owner(kind="vm", name=nova.get("display_name", dom.name), id=dom.uuid, runtime=NAME, source=source,
               exact=True, details=tuple(sorted(details.items())), links=tuple(sorted(set(links))),
               pids=(dom.pid,) if dom.pid in ns_of else ())
    out = [vm]
    for port in dom.ports:
        prefix = port[:PORT_PREFIX]
        mine = [key for tap, key in found if prefix in tap]
        out.append(Owner(kind="neutron-port", name=port, id=port, runtime="neutron", source=source,
                         exact=True, details=(("vm", vm.name),), links=tuple(sorted(set(mine))), parent=0))
    return out


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """Whether an entry is a directory; an entry that cannot be told is taken as a file, so reading it
    gives the error naming it."""
    try:
        return entry.is_dir()
    except OSError:
        return False


class LibvirtSource:
    """The `libvirt` source (see the module docstring)."""

    name = NAME

    def __init__(self, root: str = "/") -> None:
        self.root = root
        self.dir = os.path.join(root, STATE_DIR)
        self._watch = LazyDirWatch(lambda: [self.dir])
        #: file name -> ((inode, mtime_ns, size), its Domain or the reason it is unusable); libvirtd
        #: rewrites a runtime XML by renaming a new file over it, so a new inode tells a rewrite
        self._parsed: dict[str, tuple[tuple[int, int, int], Domain | str]] = {}

    def available(self) -> bool:
        return os.path.isdir(self.dir)

    def fileno(self) -> int | None:
        return self._watch.fileno()

    def close(self) -> None:
        self._watch.close()

    def shown_path(self, file: str) -> str:
        """The path as it is on the host (`/run/libvirt/qemu/web-1.xml`), whatever the root read under."""
        return "/" + STATE_DIR + ("/" + file if file else "")

    def _domain(self, file: str) -> Domain | str:
        path = os.path.join(self.dir, file)
        try:
            st = os.stat(path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            cached = self._parsed.get(file)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            with open(path, "rb") as f:
                data = f.read(MAX_BYTES + 1)
        except OSError as e:
            return f"cannot read: {e.strerror or e}"
        result: Domain | str
        if len(data) > MAX_BYTES:
            result = f"larger than {MAX_BYTES >> 20} MiB, not read"
        else:
            from xml.etree.ElementTree import ParseError

            try:
                result = parse(data)
            except ParseError as e:
                result = f"not well-formed XML ({e})"
            except BadFile as e:
                result = str(e)
        self._parsed[file] = (stamp, result)
        return result

    def read(self, base: Snapshot) -> Enrichment:
        self._watch.drain()
        try:
            files = sorted(e.name for e in os.scandir(self.dir) if e.name.endswith(".xml") and not _is_dir(e))
        except OSError as e:
            if not os.path.exists(self.dir):
                return Enrichment(owners=())
            return Enrichment(errors=(CollectError(scope(NAME), f"cannot list {self.shown_path('')}: "
                                                   f"{e.strerror or e}; no libvirt domain shown"),))
        for gone in set(self._parsed) - set(files):
            del self._parsed[gone]
        if not files:
            return Enrichment(owners=())
        where = _where(base)
        owners: list[Owner] = []
        errors: list[CollectError] = []
        for file in files:
            dom = self._domain(file)
            shown = self.shown_path(file)
            if isinstance(dom, str):
                errors.append(CollectError(scope(NAME), f"{shown}: {dom}; that domain is not shown"))
                continue
            first = len(owners)
            owners.extend(owner if owner.parent is None else replace(owner, parent=first + owner.parent)
                          for owner in owners_of(dom, shown, base, where))
        return Enrichment(owners=tuple(owners), errors=tuple(errors))
