package motostack

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// BucketSettings are the AWS::S3::Bucket properties moto's CloudFormation drops (it applies only
// BucketEncryption and Tags) that the harness applies through the S3 API, which honours them.
var BucketSettings = []string{"NotificationConfiguration.EventBridgeConfiguration", "VersioningConfiguration"}

// applyBucketSettings applies BucketSettings to every bucket of the template that an output names
// (by Ref): the raw bucket's EventBridge notifications are what sends its Object Created events to the
// ingest rule and the archive.
func (s *Stack) applyBucketSettings(ctx context.Context, body []byte) error {
	var tmpl map[string]any
	if err := json.Unmarshal(body, &tmpl); err != nil {
		return err
	}
	physical := map[string]string{} // logical id -> bucket name, from the outputs
	outs, _ := tmpl["Outputs"].(map[string]any)
	for key, o := range outs {
		v, _ := o.(map[string]any)["Value"].(map[string]any)
		if ref, ok := v["Ref"].(string); ok && s.Outputs[key] != "" {
			physical[ref] = s.Outputs[key]
		}
	}
	for logical, r := range resources(tmpl) {
		if r["Type"] != "AWS::S3::Bucket" {
			continue
		}
		name := physical[logical]
		if name == "" {
			return fmt.Errorf("bucket %s: no output names it, so its settings cannot be applied", logical)
		}
		p := properties(r)
		if nc, ok := p["NotificationConfiguration"].(map[string]any); ok {
			if eb, ok := nc["EventBridgeConfiguration"].(map[string]any); ok && eb["EventBridgeEnabled"] == true {
				if _, err := s.S3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
					Bucket:                    aws.String(name),
					NotificationConfiguration: &s3types.NotificationConfiguration{EventBridgeConfiguration: &s3types.EventBridgeConfiguration{}},
				}); err != nil {
					return fmt.Errorf("bucket %s (%s): EventBridge notifications: %w", logical, name, err)
				}
			}
		}
		if vc, ok := p["VersioningConfiguration"].(map[string]any); ok {
			st, _ := vc["Status"].(string)
			if _, err := s.S3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
				Bucket: aws.String(name), VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatus(st)},
			}); err != nil {
				return fmt.Errorf("bucket %s (%s): versioning: %w", logical, name, err)
			}
		}
	}
	return nil
}
