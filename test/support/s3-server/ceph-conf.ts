import { join } from 'node:path';

/** Everything that differs between two single-node clusters: where they live and which ports they use. */
export interface CephLayout {
  dir: string;
  fsid: string;
  monPort: number;
  rgwPort: number;
  memstoreBytes: number;
}

/** Path of the ceph.conf inside a cluster directory; every daemon and tool is started with `-c` on it. */
export function confPath(dir: string): string {
  return join(dir, 'ceph.conf');
}

/** The ceph.conf of a one-mon, one-OSD (memstore), one-RGW cluster bound to 127.0.0.1 only, without auth. */
export function renderCephConf(layout: CephLayout): string {
  const { dir, fsid, monPort, rgwPort, memstoreBytes } = layout;
  return `[global]
fsid = ${fsid}
# v1 must be explicit: on a non-standard port the client otherwise tries msgr2 and fails auth with -13.
mon host = [v1:127.0.0.1:${monPort}]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = ${join(dir, 'keyring')}
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
mon max pg per osd = 1000
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}
osd crush chooseleaf type = 0
osd class update on start = false
run dir = ${join(dir, 'run')}
log file = ${join(dir, 'log', '$name.log')}
admin socket = ${join(dir, 'run', '$name.asok')}
pid file = ${join(dir, 'run', '$name.pid')}
crash dir = ${join(dir, 'crash')}
# Every pool RGW creates is a mon proposal; the default 1 s batching interval makes start-up and the
# first CreateBucket/PUT wait seconds for nothing on a one-mon cluster.
paxos propose interval = 0.05
paxos min wait = 0.01

[mon.a]
mon data = ${join(dir, 'mon-a')}
mon addr = [v1:127.0.0.1:${monPort}]

[osd.0]
osd data = ${join(dir, 'osd-0')}

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${join(dir, 'rgw')}
# When the OSD had to be restarted, RGW's first ops wait for the objecter's next tick (default 5 s).
objecter tick interval = 0.5
`;
}
