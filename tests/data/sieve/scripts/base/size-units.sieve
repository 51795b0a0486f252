require "fileinto";
if size :over 1K { fileinto "over1k"; }
if size :under 1M { fileinto "under1m"; }
if size :over 0 { fileinto "over0"; }
if size :under 500 { fileinto "under500"; }
if size :over 100000 { fileinto "over100000"; }
