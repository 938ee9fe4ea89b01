// Package redisx is the Redis client code the notifier's brokers share:
// the three URL forms of --redis-url (a server, a Sentinel-watched master,
// a Cluster), finding the master through Sentinel, connection pools, the
// Cluster key slot and shard map, and a Cluster client that sends a command
// to the master of a key's slot, following MOVED and ASK. It is small on
// purpose and built on redigo; the brokers own subscriptions and failover,
// and no redigo type leaves them.
package redisx
