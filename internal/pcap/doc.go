// Package pcap reads and writes the classic libpcap file format for UDP
// over IPv4 on Ethernet: what SIPp's play_pcap_audio replays and what
// tcpdump captures on the loopback interface.
package pcap
