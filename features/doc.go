// Package features turns an identity's events, and the social signals it
// permits, into its feature vector; it holds the consent gate. It imports
// only engine. The merge itself arrives with the models issue (#3).
package features
