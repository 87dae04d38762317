// Package periodic runs a node's periodic duties: the ISR checks, retention and cleaning passes
// (broker/replica) and the controller's liveness tick (broker). It is their one loop, so every
// duty starts, overruns and stops the same way.
//
// It imports only the standard library, so any package of the module may use it.
package periodic
