#!/usr/bin/python3
"""YaTC's MFR extraction with scapy, as a peer for trafficfm's `mmae` encoder.

read_mfr() is YaTC's read_MFR_bytes() (data_process.py of the YaTC repository) applied to the
first packets of one flow; flows are grouped by bidirectional 5-tuple in order of first
appearance, as SplitCap's sessions are. Application layers are left undecoded (Raw), so that
"payload" means the transport payload as it does for YaTC's TCP captures (scapy would
otherwise dissect DNS on port 53 and fold it into the header).

  yatc_mfr.py compare CAPTURE_DIR CORPUS   every sample of an --anonymize off mmae corpus equals
                                           YaTC's bytes for its flow; exit 1 on any difference
  yatc_mfr.py bench FILE...                packets/s of YaTC-style extraction (benchmarks)
"""
import binascii
import glob
import os
import sys
import time

from scapy.all import IP, TCP, UDP, PcapReader

TCP.payload_guess = []
UDP.payload_guess = []


def read_mfr(packets):
    data = []
    for packet in packets:
        header = (binascii.hexlify(bytes(packet['IP']))).decode()
        try:
            payload = (binascii.hexlify(bytes(packet['Raw']))).decode()
            header = header.replace(payload, '')
        except Exception:
            payload = ''
        if len(header) > 160:
            header = header[:160]
        elif len(header) < 160:
            header += '0' * (160 - len(header))
        if len(payload) > 480:
            payload = payload[:480]
        elif len(payload) < 480:
            payload += '0' * (480 - len(payload))
        data.append((header, payload))
        if len(data) >= 5:
            break
    if len(data) < 5:
        for _ in range(5 - len(data)):
            data.append(('0' * 160, '0' * 480))
    final_data = ''
    for h, p in data:
        final_data += h
        final_data += p
    return bytes.fromhex(final_data)


def flow_key(packet):
    ip = packet['IP']
    sport = dport = 0
    if TCP in packet or UDP in packet:
        l4 = packet[TCP] if TCP in packet else packet[UDP]
        sport, dport = l4.sport, l4.dport
    a, b = (ip.src, sport), (ip.dst, dport)
    return (ip.proto,) + (a + b if a <= b else b + a)


def flows_of(path):
    flows = {}
    count = 0
    with PcapReader(path) as reader:
        for packet in reader:
            count += 1
            if IP not in packet:
                continue
            flows.setdefault(flow_key(packet), []).append(packet)
    return flows, count


def compare(capture_dir, corpus):
    import h5py
    flows = {}
    for path in sorted(glob.glob(os.path.join(capture_dir, '*.pcap'))):
        flows.update(flows_of(path)[0])
    compared = mismatched = 0
    for shard in sorted(glob.glob(os.path.join(corpus, 'shard-*.h5'))):
        with h5py.File(shard, 'r') as f:
            matrices = f['bytes'][:]
        for row in matrices:
            ip = row[:20]
            proto = int(ip[9])
            src = '.'.join(str(int(x)) for x in ip[12:16])
            dst = '.'.join(str(int(x)) for x in ip[16:20])
            sport = int(row[20]) << 8 | int(row[21])
            dport = int(row[22]) << 8 | int(row[23])
            a, b = (src, sport), (dst, dport)
            key = (proto,) + (a + b if a <= b else b + a)
            expected = read_mfr(flows[key])
            compared += 1
            if bytes(row) != expected:
                mismatched += 1
                if mismatched <= 3:
                    diff = [i for i in range(1600) if row[i] != expected[i]]
                    print(f'mismatch for flow {key}: {len(diff)} bytes differ, first at {diff[:8]}')
    print(f'compared {compared} flows with YaTC extraction: {mismatched} mismatched')
    return 1 if mismatched or compared == 0 else 0


def bench(files):
    start = time.perf_counter()
    packets = 0
    for path in files:
        flows, count = flows_of(path)
        packets += count
        for packets_of_flow in flows.values():
            read_mfr(packets_of_flow)
    seconds = time.perf_counter() - start
    print(f'scapy YaTC-style mfr: {packets} packets in {seconds:.3f} s = {packets / seconds:.0f} packets/s')
    return 0


if __name__ == '__main__':
    if len(sys.argv) >= 4 and sys.argv[1] == 'compare':
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    if len(sys.argv) >= 3 and sys.argv[1] == 'bench':
        sys.exit(bench(sys.argv[2:]))
    print(__doc__)
    sys.exit(2)
