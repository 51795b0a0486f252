require "fileinto";
if address :is "cc" "dan@example.com" { fileinto "dan"; }
if address :is "cc" "eve@example.com" { fileinto "eve"; }
if address :is ["to","cc"] "me@example.com" { fileinto "me"; }
if address :contains "to" "undisclosed" { fileinto "undisclosed"; }
