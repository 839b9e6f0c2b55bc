package wire

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestClusterStatusRoundTrip: Response.Cluster crosses the socket as it
// was sent (the client's decoder, DecodeResponse, leaves it to
// encoding/json), under the JSON names totpctl cluster status --json
// prints; the local backend's status leaves the etcd fields out.
func TestClusterStatusRoundTrip(t *testing.T) {
	for _, st := range []ClusterStatus{
		{Backend: "local", Online: true},
		{Backend: "etcd", Online: false, Pending: 3, Endpoints: []string{"https://etcd1:2379", "https://etcd2:2379"},
			Offline: "local", Since: "2026-12-02T15:40:00Z", LastError: "etcd did not answer within 2s"},
		{Backend: "etcd", Online: true, Endpoints: []string{"http://127.0.0.1:2379"}, Offline: "deny", Since: "2026-12-02T15:41:00Z"},
	} {
		resp := Response{Version: Version, Cluster: &st}
		var buf bytes.Buffer
		require.NoError(t, WriteJSON(&buf, resp))
		body, err := ReadFrame(&buf, 0)
		require.NoError(t, err)
		var back Response
		require.NoError(t, DecodeResponse(body, &back))
		require.Equal(t, resp, back)
	}

	b, err := json.Marshal(ClusterStatus{Backend: "local", Online: true})
	require.NoError(t, err)
	require.JSONEq(t, `{"backend":"local","online":true,"pending":0}`, string(b))
	b, err = json.Marshal(ClusterStatus{Backend: "etcd", Pending: 1, Endpoints: []string{"e"}, Offline: "local", Since: "s", LastError: "x"})
	require.NoError(t, err)
	var keys map[string]any
	require.NoError(t, json.Unmarshal(b, &keys))
	require.Len(t, keys, 7)
	for _, k := range []string{"backend", "online", "pending", "endpoints", "offline", "since", "last_error"} {
		require.Contains(t, keys, k)
	}
}
