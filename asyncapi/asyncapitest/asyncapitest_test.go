package asyncapitest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/asyncapi/asyncapitest"
)

// The validator accepts a minimal document and refuses what the
// specification refuses, saying where.
func TestValidateJSON(t *testing.T) {
	require.NoError(t, asyncapitest.ValidateJSON([]byte(`{"asyncapi":"3.0.0","info":{"title":"t","version":"1"}}`)))
	err := asyncapitest.ValidateJSON([]byte(`{"asyncapi":"3.0.0","info":{"title":"t"}}`))
	require.Error(t, err, "info.version is required")
	assert.Contains(t, err.Error(), "version")
	err = asyncapitest.ValidateJSON([]byte(`{"asyncapi":"3.0.0","info":{"title":"t","version":"1"},"operations":{"o":{"action":"publish","channel":{"$ref":"#/channels/c"}}}}`))
	require.Error(t, err, "publish is AsyncAPI 2's action")
	assert.Error(t, asyncapitest.ValidateJSON([]byte(`not json`)))
}
