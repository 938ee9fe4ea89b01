package notifier

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LinkState is one delivery link of a broker: the Redis server or
// Sentinel-watched master, or one cluster shard.
type LinkState struct {
	// Name is the link's metric label: "redis", "sentinel:<master-name>",
	// "shard:<slot ranges>" or "local".
	Name       string
	Up         bool
	CanaryLag  time.Duration // publish-to-receive time of the last canary
	Reconnects int64
}

var (
	brokerUpDesc = prometheus.NewDesc("pushpoll_broker_up",
		"1 while the broker link delivers bumps, per link (server, Sentinel master or cluster shard).", []string{"link"}, nil)
	canaryLagDesc = prometheus.NewDesc("pushpoll_canary_lag_seconds",
		"Publish-to-receive time of the last canary through Redis, per link.", []string{"link"}, nil)
	reconnectsDesc = prometheus.NewDesc("pushpoll_broker_reconnects_total",
		"Redis subscriber reconnect attempts, per link.", []string{"link"}, nil)
)

// linkCollector reads the broker's links at scrape time: a cluster's
// shards come and go with its topology, so they cannot be fixed series.
type linkCollector struct{ b Broker }

func (c linkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- brokerUpDesc
	ch <- canaryLagDesc
	ch <- reconnectsDesc
}

func (c linkCollector) Collect(ch chan<- prometheus.Metric) {
	lr, ok := c.b.(LinkReporter)
	if !ok {
		ch <- prometheus.MustNewConstMetric(brokerUpDesc, prometheus.GaugeValue, b2f(c.b.Up()), "local")
		return
	}
	for _, l := range lr.Links() {
		ch <- prometheus.MustNewConstMetric(brokerUpDesc, prometheus.GaugeValue, b2f(l.Up), l.Name)
		ch <- prometheus.MustNewConstMetric(canaryLagDesc, prometheus.GaugeValue, l.CanaryLag.Seconds(), l.Name)
		ch <- prometheus.MustNewConstMetric(reconnectsDesc, prometheus.CounterValue, float64(l.Reconnects), l.Name)
	}
}
