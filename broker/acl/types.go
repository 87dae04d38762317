package acl

import (
	"fmt"
	"strings"
)

// Operation is Kafka's AclOperation.
type Operation int8

// Kafka's AclOperation codes (the bit positions of the authorized-operations fields).
const (
	OpUnknown         Operation = 0
	OpAny             Operation = 1
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
	OpCreateTokens    Operation = 13
	OpDescribeTokens  Operation = 14
)

// ResourceType is Kafka's ResourceType.
type ResourceType int8

// Kafka's ResourceType codes.
const (
	ResUnknown         ResourceType = 0
	ResAny             ResourceType = 1
	ResTopic           ResourceType = 2
	ResGroup           ResourceType = 3
	ResCluster         ResourceType = 4
	ResTransactionalID ResourceType = 5
	ResDelegationToken ResourceType = 6
	ResUser            ResourceType = 7
)

// PatternType is Kafka's PatternType. ANY and MATCH exist only in filters.
type PatternType int8

// Kafka's PatternType codes.
const (
	PatUnknown  PatternType = 0
	PatAny      PatternType = 1
	PatMatch    PatternType = 2
	PatLiteral  PatternType = 3
	PatPrefixed PatternType = 4
)

// Permission is Kafka's AclPermissionType.
type Permission int8

// Kafka's AclPermissionType codes.
const (
	PermUnknown Permission = 0
	PermAny     Permission = 1
	PermDeny    Permission = 2
	PermAllow   Permission = 3
)

// Names Kafka gives special meaning.
const (
	Wildcard          = "*"             // a LITERAL resource name or a host matching any
	WildcardPrincipal = "User:*"        // a principal matching any
	ClusterName       = "kafka-cluster" // the one CLUSTER resource's name
)

// NotAsked is an authorized-operations field's value when the client did not ask for it
// (Integer.MIN_VALUE).
const NotAsked int32 = -2147483648

// Binding is one ACL: a resource pattern and an access control entry.
type Binding struct {
	ResourceType ResourceType
	Name         string
	Pattern      PatternType
	Principal    string
	Host         string
	Operation    Operation
	Permission   Permission
}

// Validate reports why a binding cannot be created, in Kafka's words (AclApis and
// AclControlManager.validateNewAcl): the error is INVALID_REQUEST on the wire.
func (b Binding) Validate() error {
	switch {
	case b.ResourceType < ResTopic || b.ResourceType > ResUser:
		return fmt.Errorf("Invalid resourceType %d", b.ResourceType)
	case b.Pattern != PatLiteral && b.Pattern != PatPrefixed:
		return fmt.Errorf("Invalid patternType %d", b.Pattern)
	case b.Operation < OpAll || b.Operation > OpDescribeTokens:
		return fmt.Errorf("Invalid operation %d", b.Operation)
	case b.Permission != PermDeny && b.Permission != PermAllow:
		return fmt.Errorf("Invalid permissionType %d", b.Permission)
	case b.ResourceType == ResCluster && b.Name != ClusterName:
		return fmt.Errorf("The only valid name for the CLUSTER resource is %s", ClusterName)
	case b.Name == "":
		return fmt.Errorf("Invalid empty resource name")
	case !validPrincipal(b.Principal):
		return fmt.Errorf("expected a string in format principalType:principalName but got %s", b.Principal)
	case b.Host == "":
		return fmt.Errorf("Invalid empty host")
	}
	return nil
}

// validPrincipal is Kafka's SecurityUtils.parseKafkaPrincipal: "Type:Name", both non-empty.
func validPrincipal(p string) bool {
	typ, name, ok := strings.Cut(p, ":")
	return ok && typ != "" && name != ""
}

// Filter selects bindings (DescribeAcls, DeleteAcls): a nil string matches any value, as do
// ResAny, PatAny, OpAny and PermAny; PatMatch matches every pattern that would apply to a
// resource named Name.
type Filter struct {
	ResourceType ResourceType
	Name         *string
	Pattern      PatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   Permission
}

// Validate reports a filter Kafka refuses with INVALID_REQUEST (AclBindingFilter.isUnknown).
func (f Filter) Validate() error {
	switch {
	case f.ResourceType <= ResUnknown || f.ResourceType > ResUser:
		return fmt.Errorf("Unknown patternFilter: resource type %d", f.ResourceType)
	case f.Pattern <= PatUnknown || f.Pattern > PatPrefixed:
		return fmt.Errorf("Unknown patternFilter: pattern type %d", f.Pattern)
	case f.Operation <= OpUnknown || f.Operation > OpDescribeTokens:
		return fmt.Errorf("Unknown entryFilter: operation %d", f.Operation)
	case f.Permission <= PermUnknown || f.Permission > PermAllow:
		return fmt.Errorf("Unknown entryFilter: permission type %d", f.Permission)
	}
	return nil
}

// Matches is Kafka's AclBindingFilter.matches.
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != ResAny && f.ResourceType != b.ResourceType {
		return false
	}
	if f.Pattern != PatAny && f.Pattern != PatMatch && f.Pattern != b.Pattern {
		return false
	}
	if f.Name != nil {
		name := *f.Name
		if f.Pattern == PatAny || f.Pattern == b.Pattern {
			if name != b.Name {
				return false
			}
		} else { // MATCH
			switch b.Pattern {
			case PatLiteral:
				if name != b.Name && b.Name != Wildcard {
					return false
				}
			case PatPrefixed:
				if !strings.HasPrefix(name, b.Name) {
					return false
				}
			default:
				return false
			}
		}
	}
	return (f.Principal == nil || *f.Principal == b.Principal) &&
		(f.Host == nil || *f.Host == b.Host) &&
		(f.Operation == OpAny || f.Operation == b.Operation) &&
		(f.Permission == PermAny || f.Permission == b.Permission)
}

// Supported lists the operations Kafka reports in a resource type's authorized-operations
// field (AclEntry.supportedOperations).
func Supported(rt ResourceType) []Operation {
	switch rt {
	case ResTopic:
		return []Operation{OpRead, OpWrite, OpCreate, OpDescribe, OpDelete, OpAlter, OpDescribeConfigs, OpAlterConfigs}
	case ResGroup:
		return []Operation{OpRead, OpDescribe, OpDelete}
	case ResCluster:
		return []Operation{OpCreate, OpClusterAction, OpDescribeConfigs, OpAlterConfigs, OpIdempotentWrite, OpAlter, OpDescribe}
	case ResTransactionalID:
		return []Operation{OpDescribe, OpWrite}
	case ResDelegationToken:
		return []Operation{OpDescribe}
	case ResUser:
		return []Operation{OpCreateTokens, OpDescribeTokens}
	}
	return nil
}
