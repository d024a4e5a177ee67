// Package convert turns osgs's compose model (compose-go's types.Project,
// as engine.Project loads it, with the catalog's facts) into Docker Swarm
// specs. It is pure: the deploy in package swarm observes the cluster,
// asks convert for the desired specs, and applies the difference.
//
// One file per target type, as docker/cli's cli/compose/convert:
// roles.go (placement), service.go (the service spec), container.go (the
// task's container), ports.go (published ports), objects.go (secrets and
// configs by content), network.go.
package convert

// NamespaceLabel is docker stack's label: `docker stack ps <project>` and
// `docker stack rm <project>` work on what carries it.
const NamespaceLabel = "com.docker.stack.namespace"

// SpecLabel carries the digest of a service's desired spec, so a second
// deploy with nothing changed updates nothing.
const SpecLabel = "org.osgs.spec-sha256"

// RoleLabel is the node label prefix: node.labels.osgs.role.db == "true".
const RoleLabel = "osgs.role."
