#!/usr/bin/env python3
"""Reproduction: tansu 0.6.0 never expires a consumer-group member that died without
leaving (SIGKILL); its partitions are not reassigned to the live members.

Independent of this project's code and of librdkafka: it uses kafka-python
(`pip install kafka-python`). Needs the broker on 127.0.0.1:19092 (scripts/start-kafka.sh).

    python3 scripts/repro/tansu_dead_member.py

Steps: a topic with 3 partitions; member A joins a group (session timeout 6 s), then member
B; A is SIGKILLed; 30 messages are produced over all partitions; B is watched for 40 s.
Expected (Apache Kafka): about 6 s after the kill B is assigned all 3 partitions and gets
all 30 messages. Seen on tansu 0.6.0 (2026-12-01), in each of two runs: B never holds all 3
partitions: once it kept only its own (10 of 30 messages), once it ended with A's two and
not its own (20 of 30). Some partition stays without a live member.
"""
import subprocess
import sys
import tempfile
import time
import uuid

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

BROKER = "127.0.0.1:19092"
MEMBER = """
import sys, time
from kafka import KafkaConsumer
topic, group, name = sys.argv[1:4]
c = KafkaConsumer(topic, group_id=group, bootstrap_servers=%r, auto_offset_reset="earliest",
                  enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=2000)
while True:
    got = sum(len(v) for v in c.poll(timeout_ms=500).values())
    print(name, sorted(tp.partition for tp in c.assignment()), got, flush=True)
""" % BROKER


def main():
    topic = "repro-" + uuid.uuid4().hex[:8]
    group = "group-" + uuid.uuid4().hex[:8]
    KafkaAdminClient(bootstrap_servers=BROKER).create_topics([NewTopic(topic, 3, 1)])
    script = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
    script.write(MEMBER)
    script.close()
    member = lambda name, out: subprocess.Popen(
        [sys.executable, script.name, topic, group, name], stdout=out, stderr=subprocess.STDOUT, text=True
    )
    a = member("A", subprocess.DEVNULL)
    time.sleep(4)
    b_log = tempfile.TemporaryFile("w+")
    b = member("B", b_log)
    time.sleep(8)
    a.kill()
    producer = KafkaProducer(bootstrap_servers=BROKER)
    for i in range(30):
        producer.send(topic, key=f"k{i}".encode(), value=b"x")
    producer.flush()
    time.sleep(40)
    b.kill()
    b_log.seek(0)
    lines = [line.split(" ", 1)[1].rsplit(" ", 1) for line in b_log if line.startswith("B ")]
    received = sum(int(got) for _, got in lines)
    last_assignment = lines[-1][0] if lines else "[]"
    print(f"B's assignment 40 s after A was killed: {last_assignment}; B received {received} of 30")
    print("tansu bug reproduced" if received < 30 else "dead member expired as on Apache Kafka")
    return 0 if received == 30 else 1


if __name__ == "__main__":
    sys.exit(main())
