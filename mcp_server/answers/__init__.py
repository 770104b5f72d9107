"""Tool answers served again: the Redis cache with single-flight (on replication under
Sentinel, or one Redis), the wire form built once, and the protocol-layer replay of repeats
on any replica."""
