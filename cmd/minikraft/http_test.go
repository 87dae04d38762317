package main

import (
	"os"
	"strings"
	"testing"
)

// TestImageHTTPListener: the image serves the HTTP listener on every interface by default, its
// HEALTHCHECK (healthcheck --config-file with the image's file) asks /readyz on loopback, and an
// empty KAFKA_CFG_MINIKRAFT_HTTP_LISTENER turns the listener off and the check back to ApiVersions.
func TestImageHTTPListener(t *testing.T) {
	load := func(env []string) nodeProps {
		t.Helper()
		props, _, _, err := loadProperties([]string{"--config-file", imageProps}, env, os.ReadFile)
		if err != nil {
			t.Fatal(err)
		}
		np, err := takeNodeProps(props)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{httpListenerProp, httpConsoleProp, testAdminProp} {
			if _, ok := props[k]; ok {
				t.Errorf("%s left in the broker's properties", k)
			}
		}
		return np
	}
	if np := load(nil); np.httpAddr != "0.0.0.0:8081" || np.console {
		t.Errorf("image default %+v, want the listener on 0.0.0.0:8081 without the console", np)
	}
	if np := load([]string{"KAFKA_CFG_MINIKRAFT_HTTP_LISTENER="}); np.httpAddr != "" {
		t.Errorf("an empty KAFKA_CFG_MINIKRAFT_HTTP_LISTENER left %q", np.httpAddr)
	}
	if np := load([]string{"KAFKA_CFG_MINIKRAFT_HTTP_CONSOLE_ENABLE=true"}); !np.console {
		t.Error("KAFKA_CFG_MINIKRAFT_HTTP_CONSOLE_ENABLE=true did not enable the console")
	}
	if got, tc := localProbeAddr([]string{"--config-file", imageProps}, nil); got != "http://127.0.0.1:8081/readyz" || tc != nil {
		t.Errorf("image health check probes %q", got)
	}
	if got, _ := localProbeAddr([]string{"--config-file", imageProps}, []string{"KAFKA_CFG_MINIKRAFT_HTTP_LISTENER="}); got != "127.0.0.1:9092" {
		t.Errorf("without the HTTP listener the health check probes %q, want the client listener", got)
	}
}

// TestNodePropsErrors: bad values of the binary's own properties stop the start with a message
// naming the property.
func TestNodePropsErrors(t *testing.T) {
	for _, c := range []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{httpListenerProp: "8081"}, httpListenerProp},
		{map[string]string{httpListenerProp: ":8081", httpConsoleProp: "yes please"}, httpConsoleProp},
		{map[string]string{httpConsoleProp: "true"}, httpListenerProp},
	} {
		if _, err := takeNodeProps(c.props); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %s", c.props, err, c.want)
		}
	}
	np, err := takeNodeProps(map[string]string{httpListenerProp: " 127.0.0.1:0 ", httpConsoleProp: "TRUE"})
	if err != nil || np.httpAddr != "127.0.0.1:0" || !np.console {
		t.Errorf("got %+v, %v", np, err)
	}
}
