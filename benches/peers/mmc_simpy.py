"""M/M/c in SimPy, the same system as servesim's scenarios/validation/mmc.toml:
c = 4 servers behind one shared FIFO queue, Poisson arrivals at 320/s,
exponential service with mean 10 ms (rho = 0.8), for N customers (argv[1]).
Prints the customers served and the mean time in system, to compare with
servesim's summary."""

import random
import sys

import simpy

RATE, MEAN_SERVICE, SERVERS = 320.0, 0.010, 4


def main(n):
    rng = random.Random(102)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=SERVERS)
    done = {"count": 0, "time": 0.0}

    def customer():
        arrived = env.now
        with servers.request() as slot:
            yield slot
            yield env.timeout(rng.expovariate(1.0 / MEAN_SERVICE))
        done["count"] += 1
        done["time"] += env.now - arrived

    def source():
        for _ in range(n):
            env.process(customer())
            yield env.timeout(rng.expovariate(RATE))

    env.process(source())
    env.run()
    print(f"simpy M/M/{SERVERS}: {done['count']} customers, mean time in system {1000 * done['time'] / done['count']:.3f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
