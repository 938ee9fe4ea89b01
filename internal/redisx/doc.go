// Package redisx is what the notifier needs of Redis beyond one server:
// the three URL forms of --redis-url (a server, a Sentinel-watched master,
// a Cluster), finding the master through Sentinel, the Cluster key slot,
// and the Cluster's shard map. It is small on purpose and built on redigo;
// the notifier's brokers own connections, subscriptions and failover.
package redisx
