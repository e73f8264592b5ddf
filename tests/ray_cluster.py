"""A Ray cluster on this machine for the tests: a head node and worker nodes, all on 127.0.0.1.

Run as ``python ray_cluster.py NODE_CPUS [NODE_CPUS ...]``: the first number is the head node's
CPUs, each further one starts a worker node. The script prints one JSON line with the cluster's
address, then reads commands from standard input, one a line:

- ``remove-node``: kill the processes of the last worker node still running (as a lost node);
- end of input: shut the whole cluster down and exit.

Ray 2.60 turns a loopback ``--node-ip-address`` given to ``ray start`` into the host's own
address. With ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (set by the tests) Ray keeps 127.0.0.1,
but ``ray start --address`` then rejects worker nodes; ``ray.cluster_utils.Cluster`` starts
them directly. The environment variable must be set before ``ray`` is imported.
"""

from __future__ import annotations

import json
import sys


def main(node_cpus: list[int]) -> None:
    from ray.cluster_utils import Cluster  # noqa: PLC0415

    cluster = Cluster(initialize_head=True, head_node_args={
        "node_ip_address": "127.0.0.1", "include_dashboard": False, "num_cpus": node_cpus[0]})
    workers = [cluster.add_node(node_ip_address="127.0.0.1", num_cpus=cpus) for cpus in node_cpus[1:]]
    cluster.wait_for_nodes()
    print(json.dumps({"address": cluster.address}), flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "remove-node" and workers:
                cluster.remove_node(workers.pop(), allow_graceful=False)
                print(json.dumps({"removed": True}), flush=True)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main([int(value) for value in sys.argv[1:]] or [1, 1])
